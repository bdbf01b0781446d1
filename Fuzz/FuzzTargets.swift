import Foundation

// libFuzzer entry for the parsers of files par-video reads. Fuzz/fuzz.sh
// compiles this file together with the library's own parser sources (not
// copies) under -sanitize=fuzzer,address; PAR_FUZZ_TARGET picks the parser.

private let target = ProcessInfo.processInfo.environment["PAR_FUZZ_TARGET"] ?? ""

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: size == 0 ? nil : data, count: size)
    switch target {
    case "safetensors": fuzzSafeTensors(raw)
    case "bundle": fuzzBundleConfig(String(decoding: raw, as: UTF8.self))
    case "npy": fuzzNPY(raw)
    case "manifest": fuzzManifest(raw)
    case "runjson": fuzzRunSettings(raw)
    default:
        FileHandle.standardError.write(Data("set PAR_FUZZ_TARGET to safetensors, bundle, npy, manifest or runjson\n".utf8))
        exit(2)
    }
    return 0
}

/// A whole .safetensors file: the header checks, then every tensor's bytes
/// touched at both ends (the sanitizer reports a range the checks let past).
func fuzzSafeTensors(_ file: UnsafeRawBufferPointer) {
    guard let layout = try? SafeTensorsFile.layout(file, path: "fuzz") else { return }
    var sum: UInt8 = 0
    for info in layout.tensors.values where info.end > info.begin {
        precondition(info.end - info.begin == info.count * info.dtype.byteSize, "byte count of '\(info.name)'")
        sum &+= file[layout.dataStart + info.begin] &+ file[layout.dataStart + info.end - 1]
    }
    _ = sum
    if layout.metadata["par_video"] != nil { fuzzBundleConfig(layout.metadata) }
}

/// The `par_video` metadata text of a bundle file.
func fuzzBundleConfig(_ text: String) { fuzzBundleConfig(["par_video": text]) }

/// Bundle config validation, then every size a valid config derives.
func fuzzBundleConfig(_ metadata: [String: String]) {
    guard let config = try? BundleConfig.read(metadata, path: "fuzz") else { return }
    switch config {
    case .gpt(let c):
        _ = (c.headDim, c.kvHeads, c.ffnHidden, c.steps, c.tokensPerClip)
        for b in [1, 8, 1 << 20] { _ = c.decodeBytes(batch: b, cfg: true, threads: 16) }
        precondition(c.decodeBytes(batch: 1, cfg: true, threads: 1) != nil, "a valid config's decode size overflows")
    case .tokenizer(let t, _):
        let fsq = try! FSQ(levels: t.fsqLevels)
        for i in [0, fsq.vocabularySize - 1] { _ = fsq.codes(i) }
        let (lt, lh, lw) = t.latentShape(frames: t.frames, height: t.size, width: t.size)
        _ = t.checkedOutputShape(t: lt, h: lh, w: lw)
        precondition(t.decodeBytes(t: lt, h: lh, w: lw) != nil, "a valid config's decode size overflows")
        _ = t.decoderFLOPs(t: lt, h: lh, w: lw)
    case .vq2d(let v):
        _ = (v.weightShapes().count, v.decoderFLOPs(h: v.latentSide, w: v.latentSide))
        precondition(v.decodeBytes(h: v.latentSide, w: v.latentSide) != nil, "a valid vq2d config's decode size overflows")
    }
}

/// A .npy token cube.
func fuzzNPY(_ bytes: UnsafeRawBufferPointer) {
    guard let (values, shape) = try? NPY.decode(bytes, path: "fuzz") else { return }
    precondition(Checked.product(shape) == values.count, "shape and values disagree")
}

/// A batch run's manifest.jsonl.
func fuzzManifest(_ bytes: UnsafeRawBufferPointer) {
    guard let (entries, goodEnd) = try? Manifest.parse([UInt8](bytes), path: "fuzz") else { return }
    precondition(goodEnd <= bytes.count && entries.count <= bytes.count, "manifest parse went past its input")
}

/// A batch run's run.json: what decodes is within the limits a run can have
/// (merge loops over `clips`) and survives writing and reading back.
func fuzzRunSettings(_ bytes: UnsafeRawBufferPointer) {
    guard let s = try? RunSettings.decode(Data(bytes), path: "fuzz") else { return }
    precondition((1...BatchPlan.maxClips).contains(s.clips), "clips out of range")
    precondition(s.shardValue.index < s.shardValue.count && s.shardValue.description == s.shard, "shard not K/N")
    precondition(BatchFormat(rawValue: s.format) != nil, "unknown format")
    let again = try! RunSettings.decode(try! s.encoded(), path: "fuzz")
    precondition(again.differences(from: s).isEmpty && again.shard == s.shard, "run.json does not survive a round trip")
}
