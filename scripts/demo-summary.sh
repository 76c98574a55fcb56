#!/usr/bin/env bash
# The demo's closing summary: where everything is, and what a developer
# runs next (the box catalog and its `vagrant box add` command).
#
#   bash scripts/demo-summary.sh WORK_DIR APP_DIR REPO_DIR
#
# WORK_DIR holds the run summaries scripts/demo.sh copied there (run.json,
# release.json, release-tag.json); APP_DIR is the example in the scratch
# repository REPO_DIR. e2e/demo_summary_test.go checks its output against
# a golden file.
set -uo pipefail
work=$1 app=$2 repo=$3

python3 - "$work" <<'EOF' || true
import json, sys, os
work = sys.argv[1]
results = []
for name in ("run.json", "release.json", "release-tag.json"):
    try:
        results += json.load(open(os.path.join(work, name)))["results"]
    except (OSError, ValueError, KeyError):
        pass
print("\nwall time per stage:")
for r in results:
    print(f"  {r['stage']:<12} {r.get('seconds', 0):7.1f}s  {r.get('outcome','')}: {r.get('summary','')}")
EOF

# The template stage's result: the catalog and the files it published.
template_lines() {
	python3 - "$work/run.json" <<'EOF'
import json, sys
try:
    results = json.load(open(sys.argv[1]))["results"]
except (OSError, ValueError, KeyError):
    results = []
t = next((r for r in results if r.get("stage") == "template"), None)
data = (t or {}).get("data") or {}
catalog, image = data.get("catalog_url", ""), data.get("image_url", "")
if not catalog and not image:
    print("  VM template         not published in this run (see the template stage above)")
    sys.exit(0)
if catalog:
    print(f"  box catalog         {catalog}")
    providers = [f["format"] for f in data.get("files") or [] if f.get("format") in ("libvirt", "virtualbox")]
    for i, p in enumerate(providers):
        label = "  add the box         " if i == 0 else "                      "
        print(f"{label}vagrant box add --provider {p} {catalog}")
    print(f"  then                vagrant init {data.get('name', '')} && vagrant up")
if image:
    print(f"  qcow2 image         {image}")
EOF
}

cat <<EOF

Where everything is:
  repository          $repo  (origin: $work/origin.git)
  packages and lock   $app/.pipeline/build/  (dist.lock, *.deb, *.rpm, apt/, yum/)
  artifact store      $app/.pipeline/artifacts/
EOF
template_lines
cat <<EOF
  JUnit reports       $app/.pipeline/reports/junit-*.xml
  run summaries       $work/run.json, $work/release.json, $work/release-tag.json
EOF
echo "  master since v1.0.0 (promoted commits, then the release commit):"
git -C "$repo" log --format='    %h %s' v1.0.0..origin/master
culprit=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(next((x.get("dotenv",{}).get("PIPELINE_PROMOTE_CULPRIT","") for x in r if x["stage"]=="promote"),""))' "$work/run.json" 2>/dev/null || true)
echo "  culprit (not promoted, still on staging):"
if [ -n "$culprit" ]; then
	git -C "$repo" log -1 --format='    %h %s' "$culprit" 2>/dev/null || echo "    $culprit"
else
	echo "    none"
fi
echo "  promote's JUnit report  $app/.pipeline/reports/junit-promote.xml; each probe's log under $app/.pipeline/reports/promote/"
git -C "$repo" fetch -q --tags origin 2>/dev/null
tag=$(git -C "$repo" describe --tags --abbrev=0 origin/master 2>/dev/null || true)
echo "  new version, tag    ${tag:-none}"
echo "  changelog entry     $repo/CHANGELOG.md:"
sed -n '1,25p' "$repo/CHANGELOG.md" 2>/dev/null | sed 's/^/    /'
