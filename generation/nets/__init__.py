"""Torch networks only (no Django). Importing this package registers every variant in
`generation.nets.base.VARIANTS`; each net module adds its own import line here."""

from generation.nets import (  # noqa: F401
    bilstm,  # control model: the note/chord token Bi-LSTM of section 2.2.3
    ec2vae,  # control model: Yang et al. 2019
    recurrent,  # proposed, unilstm, gru, rnn, lstm1
    separation,  # the paper's source-separation RNN (section 2.1)
    vded,  # control model: our reading of the paper's VD-ED
    wavenet,
)
