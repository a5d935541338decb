"""Torch networks only (no Django). Importing this package registers every variant in
`generation.nets.base.VARIANTS`; each net module adds its own import line here."""

import generation.nets.bilstm  # noqa: F401  control models of the listening study
import generation.nets.ec2vae  # noqa: F401
import generation.nets.vded  # noqa: F401
from generation.nets import recurrent  # noqa: F401  proposed, unilstm, gru, rnn, lstm1
from generation.nets import separation  # noqa: F401  the paper's source-separation RNN (section 2.1)
from generation.nets import wavenet  # noqa: F401
