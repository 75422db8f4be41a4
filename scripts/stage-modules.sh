#!/bin/sh
# Installs the production npm modules beside a copy of package.json in DIR,
# for the Debian package (debian/rules) and the image (Dockerfile) alike:
# in a directory of their own, so the dev tools in ./node_modules never reach
# what ships. Express and axios load from them on first use; the rest of the
# daemon is in the dist/app.js bundle. Run from the source tree.
# Usage: scripts/stage-modules.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cp package.json package-lock.json "$dir/"
cd "$dir"
npm ci --omit=dev --ignore-scripts --no-audit --no-fund
rm package-lock.json
# The modules' own development files (lint, VCS and npm configuration) mean
# nothing at run time; their licenses and READMEs stay.
find node_modules \( -name '.eslintrc*' -o -name '.npmignore' -o -name '.gitattributes' \
  -o -name '.gitignore' -o -name '.editorconfig' -o -name '.travis.yml' -o -name '.nycrc' \) -type f -delete
find node_modules -name '.github' -type d -prune -exec rm -rf {} +
