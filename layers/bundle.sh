# shellcheck shell=bash
# bundle.sh is sourced by layers/*/build.sh. It turns programs installed from
# Debian's packages into a Lambda layer that needs nothing from the host:
#
#   $ARTIFACTS_DIR/bin/<program>   the real ELF executables, patched so that
#                                  their interpreter is $PREFIX/lib/<ld.so> and
#                                  their DT_RPATH is $PREFIX/lib
#   $ARTIFACTS_DIR/lib/            every shared library they load (the ldd
#                                  closure, named by soname) and the loader
#   $ARTIFACTS_DIR/licenses/       the Debian copyright file of every package a
#                                  file came from, and packages.txt (versions)
#
# Why DT_RPATH and not DT_RUNPATH (patchelf's default): Lambda sets
# LD_LIBRARY_PATH=/lib64:/usr/lib64:...:/opt/lib and the Go function passes its
# environment to the programs it runs. The loader searches DT_RUNPATH only
# after LD_LIBRARY_PATH, so the host's libc would be loaded with our loader;
# DT_RPATH of the executable is searched before LD_LIBRARY_PATH, for every
# library in the process, as long as that library has no DT_RUNPATH of its own
# (bundle_patch removes those).
#
# The layer's libraries are for the architecture of the machine that builds it.
#
# Usage (from a build.sh, with set -euo pipefail):
#   bundle_init LayerName          # reads ARTIFACTS_DIR and PREFIX (default /opt)
#   bundle_deps pkg...             # installs missing Debian packages (scripts/deps.sh)
#   bundle_bin /path/to/program    # once per program
#   bundle_finish                  # libraries, patching, checks, licences, size

# Lambda's limit for a function's code and all its layers, unzipped.
readonly BUNDLE_LAMBDA_LIMIT=262144000

bundle_die() {
	echo "${BUNDLE_NAME:-layer}: $*" >&2
	exit 1
}

bundle_init() {
	BUNDLE_NAME=$1
	BUNDLE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	if [[ -z "${ARTIFACTS_DIR:-}" ]]; then
		bundle_die "ARTIFACTS_DIR is not set (SAM sets it; by hand: make build-$BUNDLE_NAME ARTIFACTS_DIR=dist/$BUNDLE_NAME)"
	fi
	BUNDLE_PREFIX=${PREFIX:-/opt}
	BUNDLE_PREFIX=${BUNDLE_PREFIX%/}
	if [[ "$BUNDLE_PREFIX" != /* ]]; then
		bundle_die "PREFIX must be an absolute path (where the layer is mounted, /opt in Lambda), got '${PREFIX:-}'"
	fi
	mkdir -p "$ARTIFACTS_DIR"
	BUNDLE_OUT=$(cd "$ARTIFACTS_DIR" && pwd)
	# Refuse a directory holding anything but a previous build of a layer, so a
	# wrong ARTIFACTS_DIR (/, /usr, a home directory) is never emptied.
	local entry
	for entry in "$BUNDLE_OUT"/* "$BUNDLE_OUT"/.[!.]*; do
		[[ -e "$entry" || -L "$entry" ]] || continue
		case "${entry##*/}" in
		bin | lib | licenses) ;;
		*) bundle_die "ARTIFACTS_DIR $BUNDLE_OUT holds $entry: give an empty directory (or a previous layer build)" ;;
		esac
	done
	rm -rf "${BUNDLE_OUT:?}/bin" "${BUNDLE_OUT:?}/lib" "${BUNDLE_OUT:?}/licenses"
	mkdir -p "$BUNDLE_OUT/bin" "$BUNDLE_OUT/lib" "$BUNDLE_OUT/licenses"
	BUNDLE_BINS=()
	BUNDLE_SOURCES=()
}

# bundle_deps installs the Debian packages that are missing (as root; otherwise
# scripts/deps.sh prints the apt-get command and fails).
bundle_deps() {
	bash "$BUNDLE_REPO/scripts/deps.sh" "$@"
}

bundle_bin() {
	local src=$1 real
	real=$(readlink -f "$src")
	[[ -f "$real" && -x "$real" ]] || bundle_die "$src is not an executable file"
	install -m 0755 "$real" "$BUNDLE_OUT/bin/${src##*/}"
	BUNDLE_BINS+=("$BUNDLE_OUT/bin/${src##*/}")
	BUNDLE_SOURCES+=("$real")
}

# bundle_libs copies the loader and every library in the programs' ldd closure
# into lib/, each under the name the programs ask for (its soname).
bundle_libs() {
	local -A seen=()
	local line name path real tracing
	BUNDLE_LOADER=
	# ldd runs the host's loader in tracing mode; the caller's LD_* variables
	# must not change what it finds.
	tracing=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD -u LD_AUDIT ldd "${BUNDLE_SOURCES[@]}") ||
		bundle_die "ldd failed on ${BUNDLE_SOURCES[*]}"
	while IFS= read -r line; do
		if [[ "$line" =~ ^[[:space:]]+([^[:space:]]+)[[:space:]]+=\>[[:space:]]+not[[:space:]]found ]]; then
			bundle_die "the host cannot resolve ${BASH_REMATCH[1]}: install the package that provides it"
		elif [[ "$line" =~ ^[[:space:]]+([^[:space:]]+)[[:space:]]+=\>[[:space:]]+(/[^[:space:]]+) ]]; then
			name=${BASH_REMATCH[1]}
			path=${BASH_REMATCH[2]}
		elif [[ "$line" =~ ^[[:space:]]+(/[^[:space:]]+)[[:space:]]+\(0x ]]; then
			path=${BASH_REMATCH[1]}
			name=${path##*/}
			BUNDLE_LOADER=$name
		else
			continue # a file header, linux-vdso.so.1 (in the kernel)
		fi
		real=$(readlink -f "$path")
		if [[ -n "${seen[$name]:-}" ]]; then
			[[ "${seen[$name]}" == "$real" ]] || bundle_die "$name resolves to both ${seen[$name]} and $real"
			continue
		fi
		seen[$name]=$real
		if [[ "$name" == "$BUNDLE_LOADER" ]]; then
			install -m 0755 "$real" "$BUNDLE_OUT/lib/$name"
		else
			install -m 0644 "$real" "$BUNDLE_OUT/lib/$name"
		fi
		BUNDLE_SOURCES+=("$real")
	done <<<"$tracing"
	[[ -n "$BUNDLE_LOADER" ]] || bundle_die "ldd named no dynamic loader: are the programs dynamically linked?"
}

# bundle_patch points the programs at the layer's loader and libraries.
bundle_patch() {
	local f rpath
	for f in "$BUNDLE_OUT"/lib/*; do
		[[ "${f##*/}" == "$BUNDLE_LOADER" ]] && continue
		rpath=$(patchelf --print-rpath "$f")
		if [[ -n "$rpath" ]]; then
			# e.g. libpulse's RUNPATH /usr/lib/x86_64-linux-gnu/pulseaudio: its
			# own path would hide the programs' DT_RPATH and reach the host.
			patchelf --remove-rpath "$f"
		fi
	done
	for f in "${BUNDLE_BINS[@]}"; do
		patchelf --set-interpreter "$BUNDLE_PREFIX/lib/$BUNDLE_LOADER" \
			--force-rpath --set-rpath "$BUNDLE_PREFIX/lib" "$f"
	done
}

# bundle_check fails unless every library that a file in the layer needs is in
# lib/ and no library carries a search path of its own.
bundle_check() {
	local f needed rpath missing=()
	for f in "$BUNDLE_OUT"/bin/* "$BUNDLE_OUT"/lib/*; do
		while IFS= read -r needed; do
			[[ -z "$needed" || -e "$BUNDLE_OUT/lib/$needed" ]] || missing+=("${f##*/} needs $needed")
		done < <(patchelf --print-needed "$f")
	done
	for f in "$BUNDLE_OUT"/lib/*; do
		[[ "${f##*/}" == "$BUNDLE_LOADER" ]] && continue
		rpath=$(patchelf --print-rpath "$f")
		[[ -z "$rpath" ]] || missing+=("${f##*/} still searches $rpath")
	done
	if ((${#missing[@]} > 0)); then
		printf '%s\n' "${missing[@]}" >&2
		bundle_die "the layer is not self-contained"
	fi
}

# bundle_licenses copies the copyright file of every Debian package that a file
# in the layer came from, once per source package when they are the same text,
# and lists the packages in licenses/packages.txt: package, version,
# architecture, source package and its licence file. The corresponding source
# is `apt-get source PACKAGE=VERSION`.
bundle_licenses() {
	local -A owner=()
	local -a queries=() names=()
	local src line owners path pkg
	for src in "${BUNDLE_SOURCES[@]}"; do
		# With merged /usr, dpkg may know a file by its /lib/... name.
		queries+=("$src")
		[[ "$src" == /usr/* ]] && queries+=("${src#/usr}")
	done
	while IFS= read -r line; do
		[[ "$line" == *": /"* && "$line" != diversion* ]] || continue
		owners=${line%%: /*}
		path=/${line#*: /}
		[[ "$path" == /usr/* ]] || path=/usr$path
		owner[$path]=$owners
	done < <(dpkg-query -S "${queries[@]}" 2>/dev/null || true)

	local -A packages=()
	for src in "${BUNDLE_SOURCES[@]}"; do
		path=$src
		[[ "$path" == /usr/* ]] || path=/usr$path
		[[ -n "${owner[$path]:-}" ]] || bundle_die "no Debian package owns $src, so its licence is unknown"
		IFS=', ' read -r -a names <<<"${owner[$path]}"
		for pkg in "${names[@]}"; do
			[[ -n "$pkg" ]] && packages[${pkg%%:*}]=1
		done
	done

	local version arch source copyright file
	while IFS=$'\t' read -r pkg version arch source; do
		copyright=/usr/share/doc/$pkg/copyright
		[[ -f "$copyright" ]] || bundle_die "$copyright is missing"
		# Packages built from one source (ffmpeg's libav*, gcc's runtimes) ship
		# the same text: keep one copy, named after the source package.
		file=$source.copyright
		if [[ -e "$BUNDLE_OUT/licenses/$file" ]] && ! cmp -s "$copyright" "$BUNDLE_OUT/licenses/$file"; then
			file=$pkg.copyright
		fi
		[[ -e "$BUNDLE_OUT/licenses/$file" ]] || install -m 0644 "$copyright" "$BUNDLE_OUT/licenses/$file"
		printf '%s\t%s\t%s\t%s\t%s\n' "$pkg" "$version" "$arch" "$source" "$file"
	done < <(dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${source:Package}\n' "${!packages[@]}" | sort) >"$BUNDLE_OUT/licenses/packages.txt"
}

bundle_finish() {
	bundle_libs
	# A layer may define bundle_slim to replace libraries it never uses.
	if declare -F bundle_slim >/dev/null; then
		bundle_slim
	fi
	bundle_patch
	bundle_check
	bundle_licenses
	local size
	size=$(du -sb "$BUNDLE_OUT" | cut -f1)
	if ((size > BUNDLE_LAMBDA_LIMIT)); then
		bundle_die "$size bytes unzipped: over Lambda's $BUNDLE_LAMBDA_LIMIT-byte limit for a function and its layers"
	fi
	echo "$BUNDLE_NAME: $BUNDLE_OUT ($(uname -m), loader $BUNDLE_PREFIX/lib/$BUNDLE_LOADER): $size bytes unzipped, $((BUNDLE_LAMBDA_LIMIT - size)) left for the function and other layers" >&2
}
