"""Source separation around the paper's RNN (generation/nets/separation.py): rendered multitrack data,
the MUSDB18 layout, BSS Eval against the oracle and the floor, and audio ingest into a corpus."""
