#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: its own cluster (initdb) in a
# temporary directory, on a free loopback port, run as the postgres user
# when started as root (PostgreSQL refuses to run as root).
#
#   scripts/postgres.sh start DIR   prints the DSN of a running server
#                                   (DIR's parents must be traversable)
#   scripts/postgres.sh stop DIR    stops it and removes DIR
#
# Needs Debian's postgresql package (or PG_BIN pointing at initdb and
# pg_ctl). PG_SETTINGS adds server settings after the test ones, which it
# overrides ("-c fsync=on -c synchronous_commit=on" for production
# durability, as flowwatch bench backends starts it).
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}

bin=${PG_BIN:-}
if [ -z "$bin" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && bin=$d
	done
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
	echo "postgres.sh: no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)" >&2
	exit 1
fi

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

case "$cmd" in
start)
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then
		# The postgres user must reach DIR: its parents must be traversable.
		chown postgres "$dir"
		chmod 0755 "$dir"
		if ! runuser -u postgres -- test -w "$dir"; then
			echo "postgres.sh: the postgres user cannot reach $dir (a parent directory is private)" >&2
			exit 1
		fi
	fi
	as_owner "$bin/initdb" -D "$dir/data" -U flowwatch --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000)))
	# Settings for tests: no durability needed, many short-lived schemas.
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
		-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off \
			-c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=128MB ${PG_SETTINGS:-}" >/dev/null ||
		{ cat "$dir/server.log" >&2; exit 1; }
	as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U flowwatch flowwatch
	echo "postgres://flowwatch@127.0.0.1:$port/flowwatch?sslmode=disable"
	;;
stop)
	if [ -d "$dir/data" ]; then
		as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: postgres.sh start|stop DIR" >&2
	exit 2
	;;
esac
