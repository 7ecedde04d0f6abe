#!/usr/bin/env bash
# Formats the C++ sources with Debian's clang-format 14 and .clang-format (100 columns).
#   scripts/format.sh          rewrite the files in place (make format)
#   scripts/format.sh --check  change nothing; list the files that differ and fail (make test)
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
command -v "$CLANG_FORMAT" >/dev/null || { echo "format: $CLANG_FORMAT not found (scripts/deps.sh installs it)" >&2; exit 1; }

# Every C++ source of the project: from git when this is a checkout, else from the tree.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -d '' files < <(git ls-files -z -- '*.cpp' '*.hpp' '*.h' '*.c')
else
  mapfile -d '' files < <(find include src tools tests bench fuzz examples python -type f \
                            \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.c' \) -print0)
fi

if [[ "${1:-}" == "--check" ]]; then
  bad=()
  for f in "${files[@]}"; do
    "$CLANG_FORMAT" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    printf 'format: %d file(s) differ from .clang-format (run make format):\n' "${#bad[@]}" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files conform to .clang-format"
else
  printf '%s\0' "${files[@]}" | xargs -0 -n 32 "$CLANG_FORMAT" -i
fi
