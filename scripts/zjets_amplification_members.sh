#!/usr/bin/env bash
# Train the bootstrap members of the Z+jets amplification study (docs/amplification.md), one
# after another on one core: K members per training size, each on a bootstrap resample of the
# first N events of the training files, with its own seed. Existing members are skipped, so an
# interrupted run resumes (and a member's own training resumes from its checkpoints).
#
#   scripts/zjets_amplification_members.sh OUT CONFIG "N:BASE_EPOCHS:JET_EPOCHS ..." K FILE...
#   e.g. scripts/zjets_amplification_members.sh runs/amp configs/zjets-inn-cpu.toml \
#          "30000:125:100 100000:75:60" 4 ../shared/data/zjets/train_{0,1,2}.root
# Smaller samples get more epochs (an epoch is shorter); CONFIG's other options are kept
# (with the recipe's [reflection] mirror = "jets" the jet networks see four times the rows:
# the measured members, trained before it, had jet epochs 200 and 120)
# (OUT/nN.json is CONFIG with the epochs of size N).
set -euo pipefail
out=$1 config=$2 sizes=$3 members=$4
shift 4
for spec in $sizes; do
  IFS=: read -r n epochs jet_epochs <<< "$spec"
  mkdir -p "$out"
  python - "$config" "$epochs" "$jet_epochs" "$out/n$n.json" <<'PY'
import json, sys
from evgen.training.config import load_config_file
config = load_config_file(sys.argv[1])
config.setdefault("training", {})["epochs"] = int(sys.argv[2])
config.setdefault("jets", {})["epochs"] = int(sys.argv[3])
with open(sys.argv[4], "w") as f:
    json.dump(config, f, indent=1)
PY
  for ((k = 0; k < members; k++)); do
    run="$out/n$n-m$k"
    if [[ -f "$run/model.json" ]]; then
      echo "skip $run (trained)"
      continue
    fi
    echo "train $run ($n events, bootstrap $k, $epochs/$jet_epochs epochs) $(date +%T)"
    evgen train zjets-inn --data "$@" -o "$run" --config "$out/n$n.json" --max-events "$n" \
      --bootstrap "$k" --seed "$k" --no-progress
  done
done
