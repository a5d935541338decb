/* The volunteer's pages: play buttons, the played-to-the-end gate, and the calls to /s/<slug>/api/.
 *
 * Plain JavaScript, no build step. Every page is rendered by the server from the participant's
 * state, so after each answer the script simply goes to the URL the server names: a reload or a
 * lost connection resumes exactly where the volunteer was. Nothing here decides a rule; the server
 * checks everything again (played to the end, 1-5 or 0-100, the participant's own trial or page).
 */
(function () {
  "use strict";

  // The language switch submits as soon as a language is chosen (an inline handler would break
  // the Content-Security-Policy, which allows no inline script).
  var language = document.getElementById("language-select");
  if (language) {
    language.addEventListener("change", function () { language.form.submit(); });
  }

  var node = document.getElementById("volunteer-config");
  if (!node) return;
  var config = JSON.parse(node.textContent);
  var strings = config.strings || {};
  var errorBox = document.getElementById("step-error");

  function showError(text) {
    if (errorBox) errorBox.textContent = text || "";
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  /* POST JSON; retried on a network failure, which is safe because the server answers a repeated
   * call exactly as the first one. Resolves with the JSON body, rejects with the server's message. */
  function post(url, body, attempt) {
    attempt = attempt || 0;
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrf, "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.detail || strings.error);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    }, function () {
      if (attempt < 3) return sleep(700 * (attempt + 1)).then(function () { return post(url, body, attempt + 1); });
      throw new Error(strings.network);
    });
  }

  function go(data) {
    window.location.assign(data.next || window.location.href);
  }

  function playFromStart(audio) {
    audio.currentTime = 0;
    var promise = audio.play();
    if (promise && promise.catch) {
      promise.catch(function () { showError(strings.cannot_play); });
    }
  }

  function setupVolume() {
    var audio = document.getElementById("volume-audio");
    var play = document.getElementById("volume-play");
    var done = document.getElementById("volume-done");
    play.addEventListener("click", function () { showError(""); playFromStart(audio); });
    audio.addEventListener("ended", function () { done.disabled = false; done.focus(); });
    audio.addEventListener("error", function () { showError(strings.cannot_load); });
    done.addEventListener("click", function () {
      done.disabled = true;
      post(config.urls.volume, { confirmed: true }).then(go, function (error) {
        done.disabled = false;
        showError(error.message);
      });
    });
  }

  function setupHeadphones() {
    var audio = document.getElementById("check-audio");
    var play = document.getElementById("check-play");
    var choices = document.getElementById("check-choices");
    play.addEventListener("click", function () {
      showError("");
      play.disabled = true;  // each sound is heard once, as in Milne et al.
      play.textContent = strings.playing;
      playFromStart(audio);
    });
    audio.addEventListener("ended", function () {
      play.textContent = strings.played;
      choices.disabled = false;
      choices.querySelector("button").focus();
    });
    audio.addEventListener("error", function () { play.disabled = false; showError(strings.cannot_load); });
    Array.prototype.forEach.call(choices.querySelectorAll("button[data-answer]"), function (button) {
      button.addEventListener("click", function () {
        choices.disabled = true;
        post(config.urls.answer, { answer: Number(button.dataset.answer) }).then(go, function (error) {
          choices.disabled = false;
          showError(error.message);
        });
      });
    });
  }

  function setupTrial() {
    var audio = document.getElementById("clip-audio");
    var play = document.getElementById("clip-play");
    var status = document.getElementById("play-status");
    var form = document.getElementById("rating-form");
    var submit = document.getElementById("rating-submit");
    var playedToEnd = Boolean(config.played_to_end);
    var sending = false;

    function refresh() {
      submit.disabled = !playedToEnd || sending;
    }
    if (playedToEnd) {
      play.textContent = strings.play_again;
      status.textContent = strings.may_rate;
    }
    refresh();

    play.addEventListener("click", function () {
      showError("");
      play.disabled = true;
      play.textContent = strings.playing;
      playFromStart(audio);
    });
    audio.addEventListener("play", function () {
      post(config.urls.events, { event: "play", position_s: audio.currentTime || 0 }).catch(function (error) {
        showError(error.message);
      });
    });
    audio.addEventListener("ended", function () {
      play.disabled = false;
      play.textContent = strings.play_again;
      post(config.urls.events, { event: "ended", position_s: audio.duration || 0 }).then(function () {
        playedToEnd = true;
        status.textContent = strings.may_rate;
        refresh();
      }, function (error) {
        showError(error.message);
      });
    });
    audio.addEventListener("error", function () {
      play.disabled = false;
      play.textContent = strings.play;
      showError(strings.cannot_load);
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!playedToEnd || sending) return;
      var values = {};
      var missing = [];
      config.scales.forEach(function (scale) {
        var checked = form.querySelector('input[name="' + scale.name + '"]:checked');
        if (checked) values[scale.name] = Number(checked.value);
        else missing.push(scale.label);
      });
      if (missing.length) {
        showError(strings.missing + " " + missing.join(", "));
        return;
      }
      showError("");
      sending = true;
      refresh();
      post(config.urls.rating, values).then(go, function (error) {
        sending = false;
        refresh();
        showError(error.message);
      });
    });
  }

  /* The players of a MUSHRA or pairwise page: one <audio> per clip (config.clips, labelled "A",
   * "B", ...), at most one playing at a time, each clip's start and end told to the server, which
   * alone decides whether the page may be answered. keepPosition: a clip pressed while another
   * plays takes over at the same moment (MUSHRA's instant switching); otherwise it starts at 0.
   * onChange(heard) runs whenever a clip has been heard to its end. */
  function pagePlayers(keepPosition, onChange) {
    var players = {};
    var heard = {};
    var current = null;

    function show(label) {
      var player = players[label];
      var playing = current === label && !player.audio.paused;
      player.button.setAttribute("aria-pressed", playing ? "true" : "false");
      player.button.classList.toggle("playing", playing);
      player.state.textContent = playing ? strings.playing : (heard[label] ? "✓ " + strings.heard : "");
    }

    function stop() {
      if (current) {
        var playing = players[current];
        playing.audio.pause();
        current = null;
        show(playing.label);
      }
    }

    function start(label) {
      var next = players[label];
      if (current === label && !next.audio.paused) {
        stop();
        return;
      }
      var position = 0;
      if (current && !players[current].audio.paused) {
        var previous = players[current];
        if (keepPosition) position = previous.audio.currentTime;
        previous.audio.pause();
        current = null;
        show(previous.label);
      }
      showError("");
      if (!(position < (next.audio.duration || 0))) position = 0;
      next.audio.currentTime = position;
      current = label;
      var promise = next.audio.play();
      if (promise && promise.catch) {
        promise.catch(function () { showError(strings.cannot_play); });
      }
      show(label);
    }

    config.clips.forEach(function (clip) {
      var player = {
        label: clip.label,
        audio: document.getElementById("clip-audio-" + clip.label),
        button: document.getElementById("clip-play-" + clip.label),
        state: document.getElementById("clip-state-" + clip.label)
      };
      players[clip.label] = player;
      heard[clip.label] = Boolean(clip.played_to_end);
      show(clip.label);
      player.button.addEventListener("click", function () { start(clip.label); });
      player.audio.addEventListener("play", function () {
        post(clip.events, { event: "play", position_s: player.audio.currentTime || 0 }).catch(function (error) {
          showError(error.message);
        });
      });
      player.audio.addEventListener("pause", function () { show(clip.label); });
      player.audio.addEventListener("ended", function () {
        if (current === clip.label) current = null;
        show(clip.label);
        post(clip.events, { event: "ended", position_s: player.audio.duration || 0 }).then(function () {
          heard[clip.label] = true;
          show(clip.label);
          onChange(heard);
        }, function (error) {
          showError(error.message);
        });
      });
      player.audio.addEventListener("error", function () {
        if (current === clip.label) current = null;
        show(clip.label);
        showError(strings.cannot_load);
      });
    });
    return { heard: heard, stop: stop };
  }

  function unheard(heard) {
    return config.clips.map(function (clip) { return clip.label; }).filter(function (label) { return !heard[label]; });
  }

  /* Shared by both page kinds: the gate on "every clip heard", and the submission. */
  function setupPage(keepPosition, collect) {
    var form = document.getElementById("page-form");
    var submit = document.getElementById("page-submit");
    var status = document.getElementById("play-status");
    var sending = false;

    function refresh(heard) {
      var allHeard = unheard(heard).length === 0;
      if (allHeard) status.textContent = strings.may_answer;
      submit.disabled = !allHeard || sending;
    }
    var players = pagePlayers(keepPosition, refresh);
    refresh(players.heard);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) return;
      var missing = unheard(players.heard);
      if (missing.length) {
        showError(strings.not_heard + " " + missing.join(", "));
        return;
      }
      var answer = collect(form);
      if (answer.error) {
        showError(answer.error);
        return;
      }
      showError("");
      players.stop();
      sending = true;
      refresh(players.heard);
      post(config.urls.answer, answer.body).then(go, function (error) {
        sending = false;
        refresh(players.heard);
        showError(error.message);
      });
    });
    return players;
  }

  function setupMushra() {
    var touched = {};
    var sliders = Array.prototype.slice.call(document.querySelectorAll(".mushra input[type=range]"));
    sliders.forEach(function (slider) {
      var output = document.getElementById("score-" + slider.dataset.label + "-" + slider.dataset.scale);
      slider.addEventListener("input", function () {
        touched[slider.name] = true;
        output.textContent = slider.value;
        slider.setAttribute("aria-valuetext", slider.value);
      });
    });
    var players = setupPage(true, function () {
      var scores = {};
      var missing = [];
      sliders.forEach(function (slider) {
        if (!touched[slider.name]) {
          if (missing.indexOf(slider.dataset.label) < 0) missing.push(slider.dataset.label);
          return;
        }
        scores[slider.dataset.label] = scores[slider.dataset.label] || {};
        scores[slider.dataset.label][slider.dataset.scale] = Number(slider.value);
      });
      if (missing.length) return { error: strings.unscored + " " + missing.join(", ") };
      return { body: { scores: scores } };
    });
    document.getElementById("clip-stop").addEventListener("click", players.stop);
  }

  function setupPairwise() {
    setupPage(false, function (form) {
      var choices = {};
      var complete = config.questions.every(function (question) {
        var checked = form.querySelector('input[name="' + question.key + '"]:checked');
        if (checked) choices[question.key] = checked.value;
        return Boolean(checked);
      });
      if (!complete) return { error: strings.unanswered };
      return { body: { choices: choices } };
    });
  }

  var setups = {
    volume: setupVolume,
    headphones: setupHeadphones,
    trial: setupTrial,
    practice: setupTrial,
    mushra: setupMushra,
    pairwise: setupPairwise
  };
  if (setups[config.step]) setups[config.step]();
})();
