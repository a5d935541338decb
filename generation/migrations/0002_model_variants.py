from django.db import migrations

# The variant keys are the ones generation/nets registers; names and descriptions are for people.
VARIANTS = [
    ("proposed", "Proposed (chord Bi-LSTM + 7-layer skip LSTM)",
     "The paper's model: a bidirectional pass over the whole chord progression feeds a 7-layer LSTM stack "
     "with skip connections that predicts the melody step by step."),
    ("unilstm", "Unidirectional LSTM", "Ablation: the proposed stack with a forward-only chord pass."),
    ("gru", "GRU", "Ablation: the proposed structure with GRU layers."),
    ("rnn", "Plain RNN", "Ablation: the proposed structure with plain (Elman) RNN layers."),
    ("lstm1", "Single-layer LSTM", "Ablation: one LSTM layer over melody and chord."),
    ("wavenet", "WaveNet", "Ablation: dilated causal convolutions over a 128-dim melody, chords as local condition."),
    ("bilstm", "Bi-LSTM (token baseline)",
     "Control model: the note/chord token Bi-LSTM of the paper's section 2.2.3; not chord-conditioned."),
    ("ec2vae", "EC2-VAE", "Control model: Yang et al. 2019, disentangled pitch and rhythm latents, chord-conditioned."),
    ("vded", "VD-ED", "Control model: our reading of the paper's undefined baseline, a chord-conditioned "
     "variational encoder-decoder with one latent."),
]


def add_variants(apps, schema_editor):
    ModelVariant = apps.get_model("generation", "ModelVariant")
    for key, name, description in VARIANTS:
        ModelVariant.objects.update_or_create(key=key, defaults={"name": name, "description": description})


class Migration(migrations.Migration):
    dependencies = [("generation", "0001_initial")]
    operations = [migrations.RunPython(add_variants, migrations.RunPython.noop)]
