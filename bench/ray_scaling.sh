# issue 11 item 3: 200k messages, local engine vs --engine ray --workers 1 / 2 on a started (and warmed) cluster.
# Input: /tmp/raybench200k.jsonl (docs/scale.md shows how to generate it). Usage: bash bench/ray_scaling.sh
# ROOT: the policylang tree to measure (default: this checkout; a clean `git archive` copy avoids others' half-edits)
set -x
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"
export PYTHONPATH="$ROOT"
uptime
T() { local s=$(date +%s.%N); /usr/bin/time -f "driver_cpu user=%U sys=%S maxrss_kb=%M" -o /tmp/ray_time_$$.txt "$@" > /dev/null 2>/tmp/ray_err_$$.txt; local rc=$?; local e=$(date +%s.%N); echo "RESULT $(echo "$e - $s" | bc) rc=$rc $(cat /tmp/ray_time_$$.txt | tail -1) :: $*"; }
T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench200k.jsonl -o /tmp/rb_local.jsonl
ray start --head --num-cpus 2 --include-dashboard=false --disable-usage-stats > /tmp/ray_start.log 2>&1
export RAY_ADDRESS=auto
head -n 1 /tmp/raybench200k.jsonl > /tmp/raybench1.jsonl
T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench1.jsonl -o /tmp/rb_warm.jsonl --engine ray --workers 2  # warm-up, not compared
ps -eo ni,comm | grep "ray::\|raylet" | sort | uniq -c  # the actors' niceness (Ray's worker_niceness, 15 by default)
T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench200k.jsonl -o /tmp/rb_w1.jsonl --engine ray --workers 1
T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench200k.jsonl -o /tmp/rb_w2.jsonl --engine ray --workers 2
T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench200k.jsonl -o /tmp/rb_w1b.jsonl --engine ray --workers 1
T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench200k.jsonl -o /tmp/rb_w2b.jsonl --engine ray --workers 2
ray stop > /dev/null 2>&1
uptime
if [ -n "$NICE0" ]; then  # the same pair on a cluster whose workers run at nice 0 (Ray's default is 15)
  RAY_worker_niceness=0 ray start --head --num-cpus 2 --include-dashboard=false --disable-usage-stats > /tmp/ray_start.log 2>&1
  T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench1.jsonl -o /tmp/rb_warm.jsonl --engine ray --workers 2  # warm-up
  T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench200k.jsonl -o /tmp/rb_w1n.jsonl --engine ray --workers 1
  (sleep 10; ps -eo ni,comm | grep MapW) &
  T policylang scan -p pii -p secrets -p jailbreak /tmp/raybench200k.jsonl -o /tmp/rb_w2n.jsonl --engine ray --workers 2
  ray stop > /dev/null 2>&1
  uptime
fi
for f in /tmp/rb_w1.jsonl /tmp/rb_w2.jsonl /tmp/rb_w1b.jsonl /tmp/rb_w2b.jsonl ${NICE0:+/tmp/rb_w1n.jsonl /tmp/rb_w2n.jsonl}; do
  if cmp -s <(sed -E 's/, "timings": \{[^{}]*\}//' /tmp/rb_local.jsonl) <(sed -E 's/, "timings": \{[^{}]*\}//' $f); then echo "SAME $f"; else echo "DIFF $f"; fi
done
echo DONE
