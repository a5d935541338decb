/* The volunteer's pages: play buttons, the played-to-the-end gate, and the calls to /s/<slug>/api/.
 *
 * Plain JavaScript, no build step. Every page is rendered by the server from the participant's
 * state, so after each answer the script simply goes to the URL the server names: a reload or a
 * lost connection resumes exactly where the volunteer was. Nothing here decides a rule; the server
 * checks everything again (played to the end, 1-5, the participant's own trial).
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

  var setups = { volume: setupVolume, headphones: setupHeadphones, trial: setupTrial, practice: setupTrial };
  if (setups[config.step]) setups[config.step]();
})();
