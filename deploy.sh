#!/usr/bin/env bash
# Deploys everything shared/infra.ts declares, through the plan of scripts/deploy-plan.ts.
#
#   ./deploy.sh [--project P] [--region R] [--project-number N] [--dry-run] [bundle...]
#
#   --project P         default: $GOOGLE_CLOUD_PROJECT, else `gcloud config get-value project`
#   --region R          default: `gcloud config get-value functions/region`, else us-central1
#   --project-number N  default: looked up with gcloud (dry-run without it shows PROJECT_NUMBER)
#   --dry-run           print the plan only: no build, no gcloud needed
#   bundle...           deploy only these bundles' functions (all other resources still converge)
#
# Every step is idempotent: a `create` that finds the resource already there runs the matching
# `update` instead (or is skipped when there is nothing to converge). Secret values are never set
# here: add them with `gcloud secrets versions add NAME --data-file=-`.
# Environment: GCLOUD (gcloud binary, default `gcloud`), APP_VERSION (default: git commit).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "deploy.sh: $*" >&2; exit 1; }
usage() { sed -n '4,10s/^# \{0,1\}//p' "$0"; }

PROJECT="" REGION="" PROJECT_NUMBER="" DRY_RUN=0
BUNDLES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --project) [ $# -ge 2 ] || die "--project needs a value"; PROJECT="$2"; shift 2 ;;
    --project=*) PROJECT="${1#*=}"; shift ;;
    --region) [ $# -ge 2 ] || die "--region needs a value"; REGION="$2"; shift 2 ;;
    --region=*) REGION="${1#*=}"; shift ;;
    --project-number) [ $# -ge 2 ] || die "--project-number needs a value"; PROJECT_NUMBER="$2"; shift 2 ;;
    --project-number=*) PROJECT_NUMBER="${1#*=}"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) BUNDLES+=("$1"); shift ;;
  esac
done

GCLOUD="${GCLOUD:-gcloud}"
have_gcloud() { command -v "$GCLOUD" >/dev/null 2>&1; }
export CLOUDSDK_CORE_DISABLE_PROMPTS=1

if [ -z "$PROJECT" ]; then PROJECT="${GOOGLE_CLOUD_PROJECT:-}"; fi
if [ -z "$PROJECT" ] && have_gcloud; then PROJECT="$("$GCLOUD" config get-value project 2>/dev/null || true)"; fi
[ -n "$PROJECT" ] || die "no project: pass --project P, set GOOGLE_CLOUD_PROJECT, or run 'gcloud config set project P'"
if [ -z "$REGION" ] && have_gcloud; then REGION="$("$GCLOUD" config get-value functions/region 2>/dev/null || true)"; fi
REGION="${REGION:-us-central1}"

TSX=node_modules/.bin/tsx
[ -x "$TSX" ] || die "$TSX not found: run 'npm ci' first"
# The project's own Node.js 24 (devDependency "node"), as npm scripts get it, whatever the system's is.
export PATH="$PWD/node_modules/.bin:$PATH"

VERSION="${APP_VERSION:-}"
if [ -z "$VERSION" ]; then
  VERSION="$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
  if [ "$VERSION" != dev ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then VERSION="$VERSION-dirty"; fi
fi

PLAN_ARGS=(--project "$PROJECT" --region "$REGION" --version "$VERSION")

if [ "$DRY_RUN" -eq 1 ]; then
  if [ -n "$PROJECT_NUMBER" ]; then PLAN_ARGS+=(--project-number "$PROJECT_NUMBER"); fi
  echo "# deploy plan for project $PROJECT, region $REGION, version $VERSION (dry run: nothing is executed)"
  exec "$TSX" scripts/deploy-plan.ts "${PLAN_ARGS[@]}" ${BUNDLES[@]+"${BUNDLES[@]}"}
fi

have_gcloud || die "'$GCLOUD' not found. Install the Google Cloud SDK (https://cloud.google.com/sdk/docs/install) and run 'gcloud auth login', or use --dry-run to only print the plan."
command -v node >/dev/null 2>&1 || die "node not found"

if [ -z "$PROJECT_NUMBER" ]; then
  PROJECT_NUMBER="$("$GCLOUD" projects describe "$PROJECT" --format='value(projectNumber)')" \
    || die "cannot read project $PROJECT (is it right, and are you logged in with 'gcloud auth login'?)"
fi
[[ "$PROJECT_NUMBER" =~ ^[0-9]+$ ]] || die "bad project number '$PROJECT_NUMBER'"
PLAN_ARGS+=(--project-number "$PROJECT_NUMBER")

echo "== building"
npm run build

WORK="$(mktemp -d "${TMPDIR:-/tmp}/virtuoso-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$TSX" scripts/deploy-plan.ts --json --write-files --files-dir "$WORK" "${PLAN_ARGS[@]}" ${BUNDLES[@]+"${BUNDLES[@]}"} >"$WORK/plan.json"

# The JSON plan as NUL-separated records that bash reads without any quoting:
# description, allowExists, allowMissing, retries, argc, args..., updatec, update...
node -e '
  const steps = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const out = [];
  for (const s of steps) {
    const update = s.update || [];
    out.push(s.description, s.allowExists ? 1 : 0, s.allowMissing ? 1 : 0, s.retries || 0,
      s.args.length, ...s.args, update.length, ...update);
  }
  process.stdout.write(out.map((v) => String(v) + "\0").join(""));
' "$WORK/plan.json" >"$WORK/plan.bin"

EXISTS_RE='already exists|ALREADY_EXISTS|you already own it'
MISSING_RE='not found|NOT_FOUND'

# Runs one gcloud argument vector (its first element is "gcloud"), showing and keeping its output.
run() {
  printf '+'; printf ' %q' "$@"; echo
  local rc=0
  "$GCLOUD" "${@:2}" 2>&1 | tee "$WORK/out" || rc=$?
  return "$rc"
}

# Runs with retries (IAM on just-created service accounts can fail until they propagate).
run_retrying() {
  local retries="$1"; shift
  local attempt=0
  until run "$@"; do
    if [ "$attempt" -ge "$retries" ] || grep -qiE "$EXISTS_RE" "$WORK/out"; then return 1; fi
    attempt=$((attempt + 1))
    echo "   (retrying in $((attempt * 5)) s, $attempt of $retries)"
    sleep $((attempt * 5))
  done
}

n=0 created=0 updated=0 skipped=0
exec 3<"$WORK/plan.bin"
while IFS= read -r -d '' description <&3; do
  IFS= read -r -d '' allow_exists <&3
  IFS= read -r -d '' allow_missing <&3
  IFS= read -r -d '' retries <&3
  IFS= read -r -d '' argc <&3
  args=()
  for ((i = 0; i < argc; i++)); do IFS= read -r -d '' a <&3; args+=("$a"); done
  IFS= read -r -d '' updatec <&3
  update=()
  for ((i = 0; i < updatec; i++)); do IFS= read -r -d '' a <&3; update+=("$a"); done
  n=$((n + 1))

  for a in "${args[@]}"; do
    case "$a" in
      *PROJECT_NUMBER*) die "step $n still has the PROJECT_NUMBER placeholder" ;;
      --source=*) [ -f "${a#--source=}/index.js" ] || die "${a#--source=}/index.js is missing: did 'npm run build' build it?" ;;
    esac
  done

  echo
  echo "== [$n] $description"
  if run_retrying "$retries" "${args[@]}"; then
    created=$((created + 1))
  elif [ "$allow_exists" = 1 ] && grep -qiE "$EXISTS_RE" "$WORK/out"; then
    if [ "$updatec" -gt 0 ]; then
      echo "   exists: updating"
      run_retrying "$retries" "${update[@]}" || die "step $n failed: $description (update)"
      updated=$((updated + 1))
    else
      echo "   exists: nothing to update"
      skipped=$((skipped + 1))
    fi
  elif [ "$allow_missing" = 1 ] && grep -qiE "$MISSING_RE" "$WORK/out"; then
    echo "   already absent"
    skipped=$((skipped + 1))
  else
    die "step $n failed: $description"
  fi
done
exec 3<&-

echo
echo "== done: $n steps ($created ran, $updated updated in place, $skipped already as wanted)"
echo "   Secrets without a version still need one: gcloud secrets versions add NAME --data-file=- --project=$PROJECT"
