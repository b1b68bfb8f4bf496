#!/usr/bin/env bash
# Regenerate tests/data/ctapipe-real.provenance.log with ctapipe itself: the provenance log its
# tools write (--provenance-log), from two real runs that share a file:
#   1. ctapipe-quickstart reads a small contact config and writes a production's config files;
#   2. ctapipe-process reads one of those (stage1_config.yaml) and is pointed at an event file
#      that does not exist: it records the configuration it used and ends with status "error".
# ctapipe appends each run's JSON list to the same log, so the file holds two lists back to back,
# as real logs do.
#
# ctapipe runs in a side virtualenv ($CTAPIPE_VENV, default ~/.cache/lineagegraph/side-ctapipe,
# made from python3.11 when missing; `pip install ctapipe`). The runs happen in a fixed directory,
# /tmp/lineagegraph-ctapipe-sample, with a minimal environment (PATH, HOME there) and astropy kept
# offline, so the log names no personal paths and the tools do not wait for downloads.
#
# Usage: bash scripts/regen-ctapipe-sample.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
side="${CTAPIPE_VENV:-$HOME/.cache/lineagegraph/side-ctapipe}"
python="${CTAPIPE_PYTHON:-python3.11}"
if [ ! -x "$side/bin/ctapipe-quickstart" ]; then
  "$python" -m venv "$side"
  "$side/bin/pip" install -q ctapipe
fi

work=/tmp/lineagegraph-ctapipe-sample
rm -rf "$work"
mkdir -p "$work/home/.config/astropy"
cat > "$work/home/.config/astropy/astropy.cfg" <<'CFG'
[utils.data]
allow_internet = False
[utils.iers.iers]
auto_download = False
CFG
cat > "$work/contact.yaml" <<'YAML'
QuickStartTool:
  contact_name: Ana Example
  contact_email: ana@example.org
  contact_organization: Example Observatory
YAML

run() {
  (cd "$work" && env -i PATH="$side/bin:/usr/bin:/bin" HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" \
      "$@" --provenance-log "$work/provenance.log")
}
run ctapipe-quickstart -c contact.yaml --workdir production
# Exit status 2 is what ctapipe gives a run whose input is missing; any other status is a failure here.
status=0
run ctapipe-process -c production/stage1_config.yaml --input events/gamma_run1.simtel.zst \
  --output dl1/gamma_run1.dl1.h5 || status=$?
if [ "$status" -ne 2 ]; then
  echo "regen-ctapipe-sample: ctapipe-process exited with $status, expected 2 (missing input)" >&2
  exit 1
fi

version="$("$side/bin/python" -c 'import ctapipe; print(ctapipe.__version__)')"
cp "$work/provenance.log" "$repo/tests/data/ctapipe-real.provenance.log"
echo "wrote tests/data/ctapipe-real.provenance.log (ctapipe $version)"
