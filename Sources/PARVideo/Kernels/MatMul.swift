import Foundation
import COpenBLAS

/// A weight matrix as stored by PyTorch's nn.Linear: `rows` outputs, each a
/// contiguous row of `cols` inputs, in F32, F16 or BF16. It views memory
/// owned by `owner` (a mapped file or a buffer) and never copies it.
public struct WeightMatrix: @unchecked Sendable {
    public let rows: Int, cols: Int
    public let dtype: DType
    public let data: UnsafeRawPointer
    let owner: AnyObject

    public init(rows: Int, cols: Int, dtype: DType, data: UnsafeRawPointer, owner: AnyObject) {
        precondition([.f32, .f16, .bf16].contains(dtype))
        self.rows = rows; self.cols = cols; self.dtype = dtype; self.data = data; self.owner = owner
    }

    public var bytes: Int { rows * cols * dtype.byteSize }

    /// Row `r` widened to fp32 into `out` (embedding lookup).
    public func copyRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeRawBufferPointer(start: data + r * cols * dtype.byteSize, count: cols * dtype.byteSize)
        convertToFloat(raw, dtype: dtype, into: out, count: cols)
    }
}

/// Below this many rows the own dot-product kernel runs: it reads each
/// weight once per call, while sgemm packs the whole weight matrix on every
/// call, which costs more than the product itself for a few dozen rows
/// (measured: `par-video bench --kernels`). From here on sgemm runs
/// (compute bound), half weights widened to fp32 tile by tile.
let fewRowsMax = 48
/// Output rows widened per sgemm tile (a 1280-wide tile is 640 KB: stays in L2).
let halfTileRows = 128

/// Per-thread scratch for widened tiles.
final class TileScratch: @unchecked Sendable {
    static let shared = TileScratch()
    private var buffers: [FloatBuffer] = []
    private let lock = NSLock()
    func buffer(_ worker: Int, count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        while buffers.count <= worker { buffers.append(FloatBuffer(0)) }
        if buffers[worker].count < count { buffers[worker] = FloatBuffer(count) }
        return buffers[worker].ptr
    }
}

/// The number of fixed output chunks for `outputs` columns: enough to feed
/// two threads evenly, independent of the thread count.
@inline(__always)
func outputChunks(_ outputs: Int) -> (count: Int, size: Int) {
    let size = max(16, ((outputs + 7) / 8 + 15) / 16 * 16)
    return ((outputs + size - 1) / size, size)
}

/// y[r, j] = sum_k x[r, k] * W[j, k] for r < rows: y = x W^T, fp32 result.
/// `x` is rows x W.cols, `y` is rows x W.rows (row stride W.rows).
public func matmul(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
    let (chunks, size) = outputChunks(w.rows)
    let k = w.cols
    Parallel.forEach(chunks) { c, worker in
        let j0 = c * size
        let cols = min(size, w.rows - j0)
        if rows < fewRowsMax {
            switch w.dtype {
            case .f32: fewRowDot(LoadF32.self, x, rows: rows, w, j0: j0, cols: cols, y)
            case .f16: fewRowDot(LoadF16.self, x, rows: rows, w, j0: j0, cols: cols, y)
            default: fewRowDot(LoadBF16.self, x, rows: rows, w, j0: j0, cols: cols, y)
            }
            return
        }
        switch w.dtype {
        case .f32:
            let wp = w.data.assumingMemoryBound(to: Float.self) + j0 * k
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(k),
                        1, x, Int32(k), wp, Int32(k), 0, y + j0, Int32(w.rows))
        case .f16, .bf16:
            do {
                halfTiles(x, rows: rows, w, j0: j0, cols: cols, y, worker: worker)
            }
        default:
            preconditionFailure("matmul: weight dtype \(w.dtype)")
        }
    }
}

/// Widens W[j0..<j0+cols] tile by tile into fp32 scratch and multiplies with sgemm.
private func halfTiles(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int,
                       _ y: UnsafeMutablePointer<Float>, worker: Int) {
    let k = w.cols
    let tile = TileScratch.shared.buffer(worker, count: halfTileRows * k)
    var t0 = 0
    while t0 < cols {
        let tr = min(halfTileRows, cols - t0)
        let raw = UnsafeRawBufferPointer(start: w.data + (j0 + t0) * k * 2, count: tr * k * 2)
        widen(raw, dtype: w.dtype, into: tile, count: tr * k)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(tr), Int32(k),
                    1, x, Int32(k), tile, Int32(k), 0, y + j0 + t0, Int32(w.rows))
        t0 += tr
    }
}

/// SIMD widening of F16/BF16 to fp32.
@inline(__always)
func widen(_ raw: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutablePointer<Float>, count: Int) {
    let src = raw.baseAddress!
    var i = 0
    if dtype == .bf16 {
        while i + 16 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: bf16ToFloat(h), as: SIMD16<Float>.self)
            i += 16
        }
    } else {
        while i + 16 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: SIMD16<Float>(h), as: SIMD16<Float>.self)
            i += 16
        }
    }
    if i < count {
        convertToFloat(UnsafeRawBufferPointer(start: src + 2 * i, count: 2 * (count - i)), dtype: dtype, into: out + i, count: count - i)
    }
}

@inline(__always)
func bf16ToFloat(_ h: SIMD16<UInt16>) -> SIMD16<Float> {
    unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD16<Float>.self)
}

@inline(__always)
func loadWide(_ p: UnsafeRawPointer, _ i: Int, bf16: Bool) -> SIMD16<Float> {
    if bf16 { return bf16ToFloat(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)) }
    return SIMD16<Float>(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self))
}

@inline(__always)
func loadF(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

/// Loads 16 weights widened to fp32 (one type per stored dtype, so the
/// few-row kernel is specialised for each).
protocol WeightLoad {
    static var width: Int { get }
    static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float>
    static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float
}
enum LoadF32: WeightLoad {
    static var width: Int { 4 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { p.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float { p.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
}
enum LoadF16: WeightLoad {
    static var width: Int { 2 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { SIMD16<Float>(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self)) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float { Float(p.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) }
}
enum LoadBF16: WeightLoad {
    static var width: Int { 2 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { bf16ToFloat(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float { Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
}

/// Few-row product: each weight row is loaded (and widened) once per block
/// of up to 4 input rows while it sits in L1, so memory sees every weight
/// once per call. A row's sum is formed the same way whatever `rows` is.
@inline(__always)
func fewRowDot<L: WeightLoad>(_: L.Type, _ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int, _ y: UnsafeMutablePointer<Float>) {
    let k = w.cols, out = w.rows
    let k16 = k / 16 * 16
    for j in j0..<(j0 + cols) {
        let wr = w.data + j * k * L.width
        var r = 0
        while r < rows {
            let nr = min(4, rows - r)
            let x0 = x + r * k
            let x1 = x + min(r + 1, rows - 1) * k
            let x2 = x + min(r + 2, rows - 1) * k
            let x3 = x + min(r + 3, rows - 1) * k
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var i = 0
            while i < k16 {
                let wv = L.load16(wr, i)
                a0.addProduct(loadF(x0, i), wv)
                a1.addProduct(loadF(x1, i), wv)
                a2.addProduct(loadF(x2, i), wv)
                a3.addProduct(loadF(x3, i), wv)
                i += 16
            }
            var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
            while i < k {
                let wv = L.load1(wr, i)
                s[0] += x0[i] * wv; s[1] += x1[i] * wv; s[2] += x2[i] * wv; s[3] += x3[i] * wv
                i += 1
            }
            for q in 0..<nr { y[(r + q) * out + j] = s[q] }
            r += 4
        }
    }
}
