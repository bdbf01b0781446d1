#!/usr/bin/env bash
# make install / make uninstall: the binary, the built-in model where the binary finds it
# (PREFIX/share/par-video/model, see ModelLocator), and bash/zsh/fish completions.
#   tools/install.sh install PREFIX BINARY
#   tools/install.sh uninstall PREFIX
# Uninstall removes exactly the files the install listed in PREFIX/share/par-video/installed-files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
verb=${1:-}; prefix=${2:-}
[ -n "$prefix" ] || { echo "usage: $0 install PREFIX BINARY | uninstall PREFIX" >&2; exit 2; }
list="$prefix/share/par-video/installed-files"
case "$verb" in
install)
  bin=${3:-}
  [ -x "$bin" ] || { echo "install: $bin is not an executable (run make build)" >&2; exit 1; }
  models=("$root"/models/builtin/*.safetensors)
  [ -e "${models[0]}" ] || { echo "install: no built-in model in $root/models/builtin" >&2; exit 1; }
  install -d "$prefix/bin" "$prefix/share/par-video/model" "$prefix/share/bash-completion/completions" \
    "$prefix/share/zsh/site-functions" "$prefix/share/fish/vendor_completions.d"
  files=("bin/par-video")
  install -m 755 "$bin" "$prefix/bin/par-video"
  for m in "${models[@]}"; do
    install -m 644 "$m" "$prefix/share/par-video/model/"
    files+=("share/par-video/model/$(basename "$m")")
  done
  for shell in bash zsh fish; do
    case $shell in
      bash) dest=share/bash-completion/completions/par-video ;;
      zsh) dest=share/zsh/site-functions/_par-video ;;
      fish) dest=share/fish/vendor_completions.d/par-video.fish ;;
    esac
    "$prefix/bin/par-video" --generate-completion-script "$shell" > "$prefix/$dest.tmp"
    mv "$prefix/$dest.tmp" "$prefix/$dest"
    files+=("$dest")
  done
  printf '%s\n' "${files[@]}" "share/par-video/installed-files" > "$list.tmp"
  mv "$list.tmp" "$list"
  echo "installed par-video in $prefix (binary, built-in model, completions)"
  ;;
uninstall)
  [ -f "$list" ] || { echo "uninstall: nothing installed in $prefix (no $list)" >&2; exit 1; }
  while IFS= read -r f; do
    case "$f" in ""|/*|*..*) echo "uninstall: refusing path '$f' in $list" >&2; exit 1 ;; esac
  done < "$list"
  while IFS= read -r f; do rm -f -- "$prefix/$f"; done < "$list"
  # only par-video's own folders; shared ones (bin, completion folders) stay
  rmdir "$prefix/share/par-video/model" "$prefix/share/par-video" 2>/dev/null || true
  echo "removed par-video from $prefix"
  ;;
*) echo "usage: $0 install PREFIX BINARY | uninstall PREFIX" >&2; exit 2 ;;
esac
