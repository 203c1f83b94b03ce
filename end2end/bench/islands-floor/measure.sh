#!/usr/bin/env bash
# Gzip -9 bytes of this crate's WASM hydrated whole and as an island, built as the site's
# WASM is (wasm-release profile, type-erased views, wasm-bindgen, wasm-opt -Oz). Compare
# with `gzip -9c target/site/pkg/tus.wasm | wc -c` after `bash .ci/bench wasm`.
#   bash end2end/bench/islands-floor/measure.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export RUSTFLAGS="--cfg erase_components"
target="$root/target/islands-floor"
for mode in full islands; do
  cargo build --quiet --manifest-path "$here/Cargo.toml" --lib --target wasm32-unknown-unknown \
    --profile wasm-release --features "$mode" --target-dir "$target"
  out="$target/out-$mode"
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" \
    "$target/wasm32-unknown-unknown/wasm-release/islands_floor.wasm"
  # cargo-leptos 0.3.10's wasm-opt arguments.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$out/islands_floor_bg.wasm" -o "$out/opt.wasm"
  echo "$mode: $(stat -c %s "$out/opt.wasm") bytes as built, $(gzip -9c "$out/opt.wasm" | wc -c) gzip -9"
done
