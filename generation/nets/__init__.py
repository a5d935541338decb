"""Torch networks only (no Django). Importing this package registers every variant in
`generation.nets.base.VARIANTS`; each net module adds its own import line here."""

from generation.nets import recurrent  # noqa: F401  proposed, unilstm, gru, rnn, lstm1
