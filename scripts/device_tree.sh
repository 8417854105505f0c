#!/usr/bin/env bash
# A lent GPU machine receives this checkout's working tree, 64 MiB at most: the files git tracks, the untracked
# files it does not ignore, and the paths a call carries (the device tool's README, "Limits"). The tracked files
# alone are about 61 MiB, 48 of them under weights/, and MNIST's four files gzipped are 11 MiB, so a call that
# carries data/mnist must leave weights/ behind: neither benchmarks/gpu.py nor scripts/two_layer_on_gpu.sh reads it.
#
#   bash scripts/device_tree.sh mnist [RAW]     # data/mnist/ (ignored): RAW's four idx files gzipped
#                                               #   (default RAW: ../shared/data/MNIST/raw)
#   bash scripts/device_tree.sh size [PATH...]  # MiB that would travel, carrying the PATHs
#   bash scripts/device_tree.sh lean            # weights/ out of git's index and ignored; the files stay here
#   bash scripts/device_tree.sh restore         # weights/ back in the index, no longer ignored: before any commit
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude)
mib() { awk '{s += $1} END {printf "%.1f", s / 1048576}'; }
sizes() { xargs -0 -r stat -c %s -- 2>/dev/null || true; }

case ${1:-} in
  mnist)
    raw=${2:-../shared/data/MNIST/raw}
    mkdir -p data/mnist
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
      gzip -9 -c "$raw/$f" > "data/mnist/$f.gz"
    done
    echo "data/mnist: $(find data/mnist -type f -print0 | sizes | mib) MiB" ;;
  size)
    shift
    tracked=$(git ls-files -z | sizes | mib)
    untracked=$(git ls-files -z --others --exclude-standard | sizes | mib)
    carried=$( (($#)) && find "$@" -type f -print0 | sizes | mib || echo 0.0)
    total=$(echo "$tracked $untracked $carried" | awk '{printf "%.1f", $1 + $2 + $3}')
    echo "tracked $tracked MiB + untracked $untracked MiB + carried $carried MiB = $total MiB (the limit: 64 MiB)"
    awk -v t="$total" 'BEGIN {exit !(t > 64)}' && echo "over the limit: bash scripts/device_tree.sh lean" || true ;;
  lean)
    git rm -r -q --cached weights
    grep -qx /weights/ "$exclude" 2>/dev/null || echo /weights/ >> "$exclude"
    echo "weights/ left out of what travels; run 'bash scripts/device_tree.sh restore' before you commit" ;;
  restore)
    sed -i '\#^/weights/$#d' "$exclude"
    git reset -q -- weights
    echo "weights/ tracked again: $(git status --porcelain -- weights | wc -l) changed files under it" ;;
  *)
    sed -n '2,11p' "$0"; exit 2 ;;
esac
