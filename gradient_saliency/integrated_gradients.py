"""`python -m gradient_saliency.integrated_gradients --model face_body|face|body ...`: see `cli.build_parser`."""
from .cli import entry

if __name__ == "__main__":
    entry("integrated_gradients")
