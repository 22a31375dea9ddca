#!/bin/sh
# Refresh the README's screenshots: the browser test takes a screenshot of every tab on the
# embedded default (under test-output/browser/); this runs it and copies the two the README shows.
# Needs Debian's Chromium and playwright (as .ci/run installs them); takes several minutes on a CPU.
set -e
cd "$(dirname "$0")/../.."
python -m pytest -q -p no:cacheprovider tests/lab/test_browser.py
cp test-output/browser/train.png test-output/browser/evaluate.png docs/screenshots/
echo "docs/screenshots/train.png and evaluate.png refreshed"
