"""Small trained checkpoints committed with the code, so the demo never has to train.

Each `<variant>.safetensors` + `<variant>.json` pair was made by `python manage.py train <variant>
--preset small ... --out generation/pretrained/<variant>`; the sidecar's "command" field records the
exact command, its "losses" the training and validation curves. Code finds this folder as
`generation.paths.PRETRAINED_DIR` (or a variant key through `checkpoints.resolve_checkpoint`).
"""
