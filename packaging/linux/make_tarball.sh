#!/bin/sh
# Package dist/astrolens (the PyInstaller one-folder bundle) as a relocatable tarball, and as
# an AppImage when appimagetool is on PATH. Run by `make bundle` after PyInstaller.
#
#   dist/astrolens-<version>-linux-<arch>.tar.gz   unpack anywhere, then ./astrolens/install.sh
#   dist/AstroLens-<version>-<arch>.AppImage       (optional) one file, chmod +x and run
set -eu
cd "$(dirname "$0")/../.."
BUNDLE=dist/astrolens
test -x "$BUNDLE/astrolens" || { echo "no bundle at $BUNDLE: run pyinstaller astrolens.spec" >&2; exit 1; }
VERSION=$("$BUNDLE/astrolens" --version | awk '{print $2}')
ARCH=$(uname -m)

# Desktop integration files travel inside the folder; install.sh puts them in place.
cp packaging/linux/astrolens.desktop packaging/linux/astrolens-autostart.desktop "$BUNDLE/"
cp packaging/linux/install.sh "$BUNDLE/install.sh"
cp astrolens/resources/icons/astrolens.svg "$BUNDLE/astrolens.svg"
chmod +x "$BUNDLE/install.sh"
TARBALL="dist/astrolens-$VERSION-linux-$ARCH.tar.gz"
tar -C dist -czf "$TARBALL" astrolens
echo "wrote $TARBALL ($(du -h "$TARBALL" | cut -f1))"

if command -v appimagetool >/dev/null 2>&1; then
  APPDIR=build/AstroLens.AppDir
  rm -rf "$APPDIR" && mkdir -p "$APPDIR/usr/lib"
  cp -a "$BUNDLE" "$APPDIR/usr/lib/astrolens"
  cp packaging/linux/astrolens.desktop "$APPDIR/astrolens.desktop"
  cp astrolens/resources/icons/astrolens.svg "$APPDIR/astrolens.svg"
  printf '#!/bin/sh\nexec "$(dirname "$(readlink -f "$0")")/usr/lib/astrolens/astrolens" "$@"\n' \
    > "$APPDIR/AppRun"
  chmod +x "$APPDIR/AppRun"
  ARCH="$ARCH" appimagetool "$APPDIR" "dist/AstroLens-$VERSION-$ARCH.AppImage"
else
  echo "appimagetool not found: skipped the AppImage (the tarball is complete on its own)"
fi
