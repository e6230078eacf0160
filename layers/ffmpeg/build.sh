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

bundle_init FFmpegLayer
bundle_deps ffmpeg patchelf
bundle_bin /usr/bin/ffmpeg
bundle_bin /usr/bin/ffprobe
bundle_finish
