#!/usr/bin/env bash
# build.sh builds the FFmpeg layer (LogicalId FFmpegLayer) from Debian's ffmpeg
# package: $ARTIFACTS_DIR/bin/ffmpeg and bin/ffprobe, with every library they
# load and the loader in lib/, and the packages' licences in licenses/.
#
# The programs look for their loader and libraries under $PREFIX/lib (default
# /opt/lib, where Lambda mounts a layer); set PREFIX to the build directory to
# run the layer where it was built. See layers/README.md.
#
# usage: ARTIFACTS_DIR=dist/FFmpegLayer [PREFIX=/opt] bash layers/ffmpeg/build.sh
set -euo pipefail

# shellcheck source=SCRIPTDIR/../bundle.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bundle.sh"

# bundle_slim replaces ICU's 31 MB data library with a stub that exports the
# same (empty) data symbol. Only libxml2 links ICU, for character-set
# conversions that the demuxers redub forces (mov, mp3, wav, ...) never make;
# without the stub the layer and a media function exceed Lambda's 250 MB.
bundle_slim() {
	local lib ver stub
	lib=$(find "$BUNDLE_OUT/lib" -maxdepth 1 -name 'libicudata.so.*' -print -quit)
	[[ -n "$lib" ]] || return 0
	ver=${lib##*libicudata.so.}
	ver=${ver%%.*}
	stub=$(mktemp -d)
	printf 'const unsigned char icudt%s_dat[32] = {0};\n' "$ver" >"$stub/icudata.c"
	cc -shared -fPIC -O2 -s -Wl,-soname,"libicudata.so.$ver" -o "$stub/libicudata.so" "$stub/icudata.c" ||
		bundle_die "cannot build the ICU data stub (is a C compiler installed? apt-get install gcc)"
	cp "$stub/libicudata.so" "$lib"
	rm -rf "$stub"
	echo "FFmpegLayer: replaced $(basename "$lib") with a stub (ICU data unused by ffmpeg here)" >&2
}

bundle_init FFmpegLayer
bundle_deps ffmpeg patchelf
bundle_bin /usr/bin/ffmpeg
bundle_bin /usr/bin/ffprobe
bundle_finish
