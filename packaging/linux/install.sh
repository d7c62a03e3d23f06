#!/bin/sh
# Per-user install of the unpacked AstroLens bundle: no root, no Python needed.
#   ./install.sh            put the folder in ~/.local/opt, `astrolens` in ~/.local/bin, a menu
#                           entry in ~/.local/share/applications
#   ./install.sh --autostart   also start the tray agent at login (Settings can toggle it later)
#   ./install.sh --uninstall
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${XDG_DATA_HOME:-$HOME/.local/share}
OPT=$HOME/.local/opt/astrolens
BIN=$HOME/.local/bin
APPS=$PREFIX/applications
ICONS=$PREFIX/icons/hicolor/scalable/apps
AUTOSTART=${XDG_CONFIG_HOME:-$HOME/.config}/autostart

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$OPT" "$BIN/astrolens" "$APPS/astrolens.desktop" "$ICONS/astrolens.svg" \
         "$AUTOSTART/astrolens.desktop"
  echo "AstroLens removed (your data in ~/.local/share/astrolens stays)."
  exit 0
fi

if [ "$HERE" != "$OPT" ]; then
  rm -rf "$OPT" && mkdir -p "$(dirname "$OPT")" && cp -a "$HERE" "$OPT"
fi
mkdir -p "$BIN" "$APPS" "$ICONS"
ln -sf "$OPT/astrolens" "$BIN/astrolens"
cp "$OPT/astrolens.svg" "$ICONS/astrolens.svg"
sed "s|^Exec=.*|Exec=$OPT/astrolens|" "$OPT/astrolens.desktop" > "$APPS/astrolens.desktop"
if [ "${1:-}" = "--autostart" ]; then
  mkdir -p "$AUTOSTART"
  sed -e '/^#/d' -e "s|^Exec=.*|Exec=$OPT/astrolens|" "$OPT/astrolens-autostart.desktop" \
    > "$AUTOSTART/astrolens.desktop"
fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" || true
echo "AstroLens installed: run 'astrolens' or pick it from the applications menu."
