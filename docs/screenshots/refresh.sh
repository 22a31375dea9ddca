#!/bin/sh
# Refresh the README's screenshots (docs/screenshots/*.png) from the loop a new user runs on the
# embedded default: train the default recipe, evaluate base vs fine-tuned on the demo test split,
# then the Train, Evaluate and Predict tabs in headless Chromium. About 5 minutes on 2 CPU cores.
set -e
cd "$(dirname "$0")/../.."
python docs/screenshots/take.py "$@"
echo "docs/screenshots/train.png, evaluate.png and predict.png refreshed"
