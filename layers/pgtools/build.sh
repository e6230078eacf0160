#!/usr/bin/env bash
# build.sh builds the PostgreSQL client layer (LogicalId PgToolsLayer) from
# Debian's postgresql-client-$PG_MAJOR: $ARTIFACTS_DIR/bin/pg_dump, pg_restore
# and psql, with every library they load and the loader in lib/, and the
# packages' licences in licenses/.
#
# PG_MAJOR (default 17) is the client's major version. pg_dump refuses a server
# newer than itself, so the backup of Neon's 16 and 17 needs 17. Debian 12
# ships only 15; 16 and 17 come from the PGDG apt repository (layers/README.md
# shows how CI adds it). A version that apt cannot install fails the build: it
# never falls back to another one.
#
# usage: ARTIFACTS_DIR=dist/PgToolsLayer [PG_MAJOR=17] [PREFIX=/opt] bash layers/pgtools/build.sh
set -euo pipefail

# shellcheck source=SCRIPTDIR/../bundle.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bundle.sh"

BUNDLE_NAME=PgToolsLayer
PG_MAJOR=${PG_MAJOR:-17}
[[ "$PG_MAJOR" =~ ^[1-9][0-9]*$ ]] || bundle_die "PG_MAJOR must be a major version such as 17, got '$PG_MAJOR'"
pkg=postgresql-client-$PG_MAJOR

# installable_clients lists the postgresql-client-N packages that apt knows,
# installed or not, with the version it would use.
installable_clients() {
	local name version
	{
		apt-cache search --names-only '^postgresql-client-[0-9]+$' | cut -d' ' -f1
		dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'postgresql-client-[0-9]*' 2>/dev/null |
			awk '$1 == "ii" {print $2}'
	} | sort -uV | while read -r name; do
		version=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$name" 2>/dev/null | awk '$1 == "ii" {print $2 " installed"}')
		[[ -n "$version" ]] || version=$(apt-cache policy "$name" | awk '$1 == "Candidate:" {print $2}')
		echo "$name $version"
	done
}

if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" != ii* ]]; then
	candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" {print $2}')
	if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
		found=$(installable_clients | paste -sd, - | sed 's/,/, /g')
		bundle_die "$pkg is not installable here: apt has no candidate for it (found: ${found:-no postgresql-client-N package; run apt-get update?}). Debian 12 ships only PostgreSQL 15; add the PGDG apt repository for $PG_MAJOR (see layers/README.md), or build PG_MAJOR=15 for local tests."
	fi
fi

# Only now touch ARTIFACTS_DIR: a refused version leaves a previous build as it was.
bundle_init PgToolsLayer
bundle_deps "$pkg" patchelf

bindir=/usr/lib/postgresql/$PG_MAJOR/bin
for prog in pg_dump pg_restore psql; do
	# /usr/bin/pg_dump is postgresql-common's Perl wrapper: take the real program.
	[[ "$(dpkg-query -S "$bindir/$prog" 2>/dev/null)" == "$pkg: "* ]] || bundle_die "$pkg does not provide $bindir/$prog"
	bundle_bin "$bindir/$prog"
done
bundle_finish
