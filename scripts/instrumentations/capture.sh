#!/usr/bin/env bash
# Captures the OTLP requests that real JavaScript LLM instrumentation
# libraries send, into internal/app/testdata/instrumentations/.
#
# Run by hand (never by CI; it needs the npm registry):
#
#   bash scripts/instrumentations/capture.sh                 # every library
#   bash scripts/instrumentations/capture.sh langfuse-js     # only some
#
# It installs the pinned npm packages (npm ci), builds and starts the capture
# server (OTLP/HTTP + OTLP/gRPC capture and a fake OpenAI API), runs every
# scenario script over every transport, stops the server and prints what it
# wrote. Re-running replaces the corpus of the libraries it runs, and
# leaves the hand-written python-* fixtures alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
corpus="$root/internal/app/testdata/instrumentations"

# Fixed ports keep server.port and the like stable between captures.
http_port="${CAPTURE_HTTP_PORT:-14318}"
grpc_port="${CAPTURE_GRPC_PORT:-14317}"
openai_port="${FAKE_OPENAI_PORT:-18089}"

all_libs=(openinference-openai-js openllmetry-openai-js otel-genai-openai-js openinference-langchain-js langfuse-js)
if [ "$#" -gt 0 ]; then
	libs=("$@")
	for l in "${libs[@]}"; do
		case " ${all_libs[*]} " in
		*" $l "*) ;;
		*) echo "unknown library $l (one of: ${all_libs[*]})" >&2; exit 2 ;;
		esac
	done
else
	libs=("${all_libs[@]}")
fi

# Nothing from the caller's environment may change what the libraries send.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(OTEL_|LANGFUSE_|OPENAI_|LANGSMITH_|LANGCHAIN_|TRACELOOP_|ARIZE_|PHOENIX_|OPENINFERENCE_)' || true)

work="$(mktemp -d)"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The Node project runs from a copy in a temporary directory, so that no
# node_modules tree lands inside the Go module (go build ./... would walk it).
js="$work/js"
mkdir -p "$js"
cp "$here"/package.json "$here"/package-lock.json "$here"/.npmrc "$here"/*.mjs "$js"/
cp -R "$here"/lib "$js"/
echo "== npm ci (a copy of scripts/instrumentations in a temporary directory)"
(cd "$js" && npm ci --no-audit --no-fund --loglevel=error)

echo "== building the capture server"
(cd "$root" && go build -o "$work/capture" ./scripts/instrumentations/capture)

# Only the directories of the libraries captured here are replaced; the
# python-* fixtures beside them are written by hand.
for lib in "${libs[@]}"; do
	rm -rf "${corpus:?}/$lib"
done
mkdir -p "$corpus"

echo "== starting the capture server"
"$work/capture" -out "$corpus" \
	-http "127.0.0.1:$http_port" -grpc "127.0.0.1:$grpc_port" -openai "127.0.0.1:$openai_port" \
	-ready-file "$work/ready" >"$work/capture.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
	[ -f "$work/ready" ] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then
		cat "$work/capture.log" >&2
		echo "the capture server did not start" >&2
		exit 1
	fi
	sleep 0.1
done
[ -f "$work/ready" ] || { echo "the capture server did not get ready" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$work/ready"
set +a
cat "$work/ready"

failed=()
run() {
	echo "-- node $*"
	if ! (cd "$js" && timeout 180 node "$@" 2>&1 | tee -a "$work/node.log"); then
		failed+=("$*")
	fi
}

for lib in "${libs[@]}"; do
	echo "== $lib"
	case "$lib" in
	openinference-openai-js) script=openinference-openai.mjs ;;
	openllmetry-openai-js) script=openllmetry-openai.mjs ;;
	otel-genai-openai-js) script=otel-genai-openai.mjs ;;
	openinference-langchain-js) script=openinference-langchain.mjs ;;
	langfuse-js)
		run langfuse.mjs
		continue
		;;
	esac
	for transport in http-protobuf http-json grpc; do
		run "$script" "$transport"
	done
done

echo "== stopping the capture server"
kill -TERM "$server_pid"
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""
grep -E 'WARNING|ERROR|stopped:' "$work/capture.log" || true

echo "== corpus written to internal/app/testdata/instrumentations"
for lib in "${libs[@]}"; do
	d="$corpus/$lib"
	[ -d "$d" ] || { echo "$lib: nothing captured"; continue; }
	echo "$lib: $(find "$d" -type f -not -name requests.json | wc -l) request file(s)"
	(cd "$d" && find . -type f -printf '  %-48P %8s bytes\n' | sort)
done
echo "total: $(find "$corpus" -type f -printf "%s\n" | awk "{s+=\$1} END {print s}") bytes in $(find "$corpus" -type f | wc -l) files"

if grep -q 'NOTE:' "$work/node.log" 2>/dev/null; then
	echo "== scenarios that exported nothing (library gaps, see README.md)"
	grep 'NOTE:' "$work/node.log" | sed 's/^ *NOTE: /  /'
fi

status=0
echo "== checking the corpus (go run ./scripts/instrumentations/dump -check)"
if ! (cd "$root" && go run ./scripts/instrumentations/dump -check); then
	status=1
fi
if [ "${#failed[@]}" -gt 0 ]; then
	echo "== FAILED runs:" >&2
	printf '  node %s\n' "${failed[@]}" >&2
	status=1
fi
if [ "$server_rc" -ne 0 ]; then
	echo "== the capture server reported stray requests (exit $server_rc); see the warnings above" >&2
	status=1
fi
exit "$status"
