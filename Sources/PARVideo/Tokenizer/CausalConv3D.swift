import COpenBLAS
import CKernels
import Foundation

/// NBP's CausalConv3d: pad by repeating edge values, 2*(kt/2) frames in front
/// and none behind, kh/2 and kw/2 on each side in space; then a (strided)
/// valid convolution. In channels-last layout it is a GEMM of im2col rows
/// cols[p][k], k = ((dt*kh + dy)*kw + dx)*cin + ci, with the kernel packed once
/// as [k][cout]. With AVX-512 the im2col is implicit: each thread builds, for
/// a block of positions, the address of every tap's input pixel and the C
/// kernels read the channels from there (fp32 FMA or bf16 vdpbf16ps). Without
/// AVX-512, explicit im2col blocks go to OpenBLAS sgemm.
///
/// Streaming: the conv keeps the last 2*(kt/2) input frames and uses them as
/// the front context of the next chunk, so decoding chunk by chunk along time
/// gives the whole-clip result.
final class CausalConv3D {
    enum Kernel {
        case blas(UnsafeMutablePointer<Float>)        // [k][cout]
        case f32(UnsafeMutablePointer<Float>)         // tk_pack_f32
        case bf16(UnsafeMutablePointer<UInt16>)       // tk_pack_bf16

        /// `w` in PyTorch layout (cout, cin, taps...) packed once as [k][cout],
        /// k = tap * cin + ci, in the form this CPU's GEMM reads (shared by Conv2D).
        static func pack(cin: Int, cout: Int, taps: Int, w: [Float], bf16: Bool) -> Kernel {
            let k = taps * cin
            let kc = UnsafeMutablePointer<Float>.allocate(capacity: k * cout)
            w.withUnsafeBufferPointer { src in
                for co in 0..<cout {
                    for ci in 0..<cin {
                        let s = src.baseAddress! + (co * cin + ci) * taps
                        for tap in 0..<taps { kc[(tap * cin + ci) * cout + co] = s[tap] }
                    }
                }
            }
            return .packed(kc, k: k, cout: cout, bf16: bf16 && cin % 2 == 0, blas: CausalConv3D.forceBLAS)
        }

        func deallocate() {
            switch self {
            case .blas(let p), .f32(let p): p.deallocate()
            case .bf16(let p): p.deallocate()
            }
        }
    }

    let cin, cout, kt, kh, kw: Int
    let stride: (t: Int, h: Int, w: Int)
    let kernel: Kernel
    let bias: [Float]
    private var context: Activation?

    var kSize: Int { kt * kh * kw * cin }
    var frontPad: Int { 2 * (kt / 2) }
    var isPointwise: Bool { kt == 1 && kh == 1 && kw == 1 && stride.t == 1 && stride.h == 1 && stride.w == 1 }

    static let hasAVX512 = ck_has_avx512() != 0
    /// Tests set this to run the OpenBLAS path on AVX-512 machines too.
    static var forceBLAS = false
    static let hasBF16 = ck_has_avx512_bf16() != 0
    /// bf16 kernels run on AMX tiles where the CPU has them (tests switch it off
    /// to check the vdpbf16ps kernel too).
    nonisolated(unsafe) static var useAMX = tk_has_amx() != 0
    /// Positions per gather + GEMM block (one block per thread at a time).
    static let blockRows = 192

    /// `w` in PyTorch layout (cout, cin, kt, kh, kw); `bf16`: run with bf16
    /// kernel and activations (when the CPU has AVX512_BF16).
    init(cin: Int, cout: Int, kernel: (Int, Int, Int), stride: (Int, Int, Int) = (1, 1, 1), w: [Float], bias: [Float], bf16: Bool = false) {
        self.cin = cin; self.cout = cout
        (kt, kh, kw) = kernel
        self.stride = (stride.0, stride.1, stride.2)
        self.bias = bias
        self.kernel = .pack(cin: cin, cout: cout, taps: kt * kh * kw, w: w, bf16: bf16)
    }

    deinit { kernel.deallocate() }

    func reset() { context = nil }

    /// Output of a chunk of input frames; `residual` (same shape as the output) is added.
    func callAsFunction(_ x: Activation, streaming: Bool = false, residual: Activation? = nil) -> Activation {
        LayerTimer.time(.conv) { forward(x, streaming: streaming, residual: residual) }
    }

    private func forward(_ x: Activation, streaming: Bool, residual: Activation?) -> Activation {
        precondition(x.channels == cin)
        // Padded time axis: context (or the first frame repeated), then the chunk.
        var frames: [UnsafeMutablePointer<Float>] = []
        if frontPad > 0 {
            if let ctx = context, streaming {
                for i in 0..<ctx.frames { frames.append(ctx.frame(i)) }
            } else {
                frames += Array(repeating: x.frame(0), count: frontPad)
            }
        }
        for t in 0..<x.frames { frames.append(x.frame(t)) }
        let to = (frames.count - kt) / stride.t + 1
        let ho = (x.height + 2 * (kh / 2) - kh) / stride.h + 1
        let wo = (x.width + 2 * (kw / 2) - kw) / stride.w + 1
        let out = Activation(frames: to, height: ho, width: wo, channels: cout)
        let geometry = Geometry(h: x.height, w: x.width, ho: ho, wo: wo)

        switch kernel {
        case .blas(let w): blasForward(frames: frames, x: x, g: geometry, w: w, out: out, residual: residual)
        case .f32: blockedForward(frames: frames, x: x, g: geometry, out: out, residual: residual, bf16: false)
        case .bf16: blockedForward(frames: frames, x: x, g: geometry, out: out, residual: residual, bf16: true)
        }

        if streaming && frontPad > 0 {
            // Keep the last frontPad padded input frames for the next chunk.
            let keep = Activation(frames: frontPad, height: x.height, width: x.width, channels: cin)
            for i in 0..<frontPad { memcpy(keep.frame(i), frames[frames.count - frontPad + i], x.frameSize * 4) }
            context = keep
        }
        return out
    }

    struct Geometry { let h, w, ho, wo: Int }

    /// Output rows [p0, p0+n) start as bias (+ residual); the GEMM accumulates.
    private func prefill(_ out: Activation, _ residual: Activation?, _ p0: Int, _ n: Int) {
        Self.startRows(out.data, residual: residual?.data, bias: bias, from: p0, count: n)
    }

    private func blockedForward(frames: [UnsafeMutablePointer<Float>], x: Activation, g: Geometry, out: Activation,
                                residual: Activation?, bf16: Bool) {
        let positions = out.frames * g.ho * g.wo
        let taps = kt * kh * kw
        // bf16 runs read the input frames in bf16 (converted once, not per tap).
        var rawFrames = frames.map { UnsafeRawPointer($0) }
        var halfStore: UnsafeMutablePointer<UInt16>?
        if bf16 {
            var unique: [UnsafeMutablePointer<Float>] = []
            for f in frames where !unique.contains(f) { unique.append(f) }
            let fs = x.frameSize
            let store = UnsafeMutablePointer<UInt16>.allocate(capacity: unique.count * fs)
            halfStore = store
            parallelFor(unique.count * 8) { r in
                for i in r {
                    let (u, part) = (i / 8, i % 8)
                    let lo = fs * part / 8, hi = fs * (part + 1) / 8
                    tk_f32_to_bf16(hi - lo, unique[u] + lo, store + u * fs + lo)
                }
            }
            rawFrames = frames.map { f in UnsafeRawPointer(store + unique.firstIndex(of: f)! * fs) }
        }
        defer { halfStore?.deallocate() }
        let elem = bf16 ? 2 : 4
        rawFrames.withUnsafeBufferPointer { fr in
            Self.forEachBlock(positions: positions, taps: taps) { table, p0, n in
                prefill(out, residual, p0, n)
                rowTable(frames: fr, g: g, from: p0, count: n, elem: elem, into: table)
                kernel.gemm(n, cout: cout, cin: cin, taps: taps, table: table, into: out.data + p0 * cout, ldc: cout)
            }
        }
    }

    /// For output positions [from, from + count) and every tap, the address of
    /// the input pixel it reads (edge-replicated): the implicit im2col.
    private func rowTable(frames fr: UnsafeBufferPointer<UnsafeRawPointer>, g: Geometry, from: Int, count: Int,
                          elem: Int, into table: UnsafeMutablePointer<UnsafeRawPointer?>) {
        let (kt, kh, kw, st) = (kt, kh, kw, stride)
        let ph = kh / 2, pw = kw / 2, px = cin * elem
        var e = 0
        for i in 0..<count {
            let p = from + i
            let t = p / (g.ho * g.wo), y = (p / g.wo) % g.ho, xo = p % g.wo
            for dt in 0..<kt {
                let f = fr[t * st.t + dt]
                for dy in 0..<kh {
                    let yy = min(max(y * st.h + dy - ph, 0), g.h - 1)
                    for dx in 0..<kw {
                        let xx = min(max(xo * st.w + dx - pw, 0), g.w - 1)
                        table[e] = f + (yy * g.w + xx) * px
                        e += 1
                    }
                }
            }
        }
    }

    private func blasForward(frames: [UnsafeMutablePointer<Float>], x: Activation, g: Geometry, w: UnsafeMutablePointer<Float>,
                             out: Activation, residual: Activation?) {
        let k = kSize
        let positions = out.frames * g.ho * g.wo
        prefill(out, residual, 0, positions)
        let raw = frames.map { UnsafeMutableRawPointer($0) }
        raw.withUnsafeBufferPointer { fr in
            Self.blasGEMM(positions: positions, k: k, cout: cout, w: w, out: out.data, direct: isPointwise ? UnsafePointer(x.data) : nil) {
                gather(frames: fr, g: g, from: $1, count: $2, elem: 4, rowElems: k, into: UnsafeMutableRawPointer($0))
            }
        }
    }

    /// im2col rows for output positions [from, from + count) (flattened t, y, x);
    /// elements of `elem` bytes, rows of `rowElems` (zero padded past k).
    private func gather(frames fr: UnsafeBufferPointer<UnsafeMutableRawPointer>, g: Geometry, from: Int, count: Int,
                        elem: Int, rowElems: Int, into cols: UnsafeMutableRawPointer) {
        let cin = cin, kt = kt, kh = kh, kw = kw, st = stride, k = kSize
        let ph = kh / 2, pw = kw / 2
        let px = cin * elem, rowBytes = g.w * px
        for i in 0..<count {
            let p = from + i
            let t = p / (g.ho * g.wo), y = (p / g.wo) % g.ho, xo = p % g.wo
            let rowStart = cols + i * rowElems * elem
            var dst = rowStart
            let x0 = xo * st.w - pw
            let inside = x0 >= 0 && x0 + kw <= g.w
            for dt in 0..<kt {
                let f = fr[t * st.t + dt]
                for dy in 0..<kh {
                    let yy = min(max(y * st.h + dy - ph, 0), g.h - 1)
                    let row = f + yy * rowBytes
                    if inside {
                        memcpy(dst, row + x0 * px, kw * px)
                        dst += kw * px
                    } else {
                        for dx in 0..<kw {
                            let xx = min(max(x0 + dx, 0), g.w - 1)
                            memcpy(dst, row + xx * px, px)
                            dst += px
                        }
                    }
                }
            }
            if rowElems > k { memset(rowStart + k * elem, 0, (rowElems - k) * elem) }
        }
    }
}
