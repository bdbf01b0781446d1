// swift-tools-version:6.0
import PackageDescription

// Hot loops need AVX2/FMA/F16C: baseline x86-64 makes SIMD 2x slower and
// Float16 conversion a library call per element.
// Release builds keep Swift's overflow and bounds checks (plain -O): these
// targets parse files from strangers, and unchecked optimisation turns a crafted size
// into an out-of-bounds read. The hot loops are C (CKernels); dropping
// the unchecked mode costs nothing measurable (BENCHMARKS.md, "Checked build").
let hotCode: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "par-video",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PARVideo", targets: ["PARVideo"]),
        .executable(name: "par-video", targets: ["par-video"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libswscale libavutil",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // AVX-512 kernels: the tokenizer's convolution GEMMs (fp32 FMA, bf16 vdpbf16ps)
        // and the transformer's few-row weight products;
        // functions carry their own target attributes and are picked at run time.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        .target(
            name: "PARVideo",
            dependencies: ["CFFmpeg", "COpenBLAS", "CKernels"],
            swiftSettings: hotCode
        ),
        .executableTarget(
            name: "par-video",
            dependencies: [
                "PARVideo", "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: hotCode
        ),
        .testTarget(
            name: "PARVideoTests",
            // par-video: built with the tests so CLITests can run the binary;
            // CFFmpeg: VideoProbe reads the streams of what it writes.
            dependencies: ["PARVideo", "par-video", "CFFmpeg"],
            swiftSettings: hotCode
        ),
    ],
    swiftLanguageModes: [.v5]
)
