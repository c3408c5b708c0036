"""``python -m gradient_saliency.main --method integrated_gradients|gradient_saliency|gradient_input_saliency
--model face_body|face|body ...``: see ``cli.build_parser``."""
from .cli import entry

if __name__ == "__main__":
    entry(None)
