#!/usr/bin/env bash
# Deploys what shared/infra.ts declares to a Google Cloud project (scripts/deploy.ts runs the plan
# of scripts/deploy-plan.ts), prints that plan (--dry-run), or rolls a function back (--rollback).
#
#   ./deploy.sh [--project P] [--region R] [--project-number N] [--only NAME]... [--dry-run]
#   ./deploy.sh --rollback FUNCTION [--to REVISION | --to latest] [--project P] [--region R]
#
# ./deploy.sh --help for every option; README.md ("Deploy") for the prerequisites.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

[ -x node_modules/.bin/tsx ] || { echo "deploy.sh: node_modules/.bin/tsx not found: run 'npm ci' first" >&2; exit 1; }
# The project's own Node.js 24 (devDependency "node"), as npm scripts get it, whatever the system's is.
export PATH="$PWD/node_modules/.bin:$PATH"
exec node --import tsx scripts/deploy.ts "$@"
