import CKernels
import COpenBLAS
import Foundation

/// Debian 12's OpenBLAS (0.3.21) does not know Intel's Sapphire/Emerald Rapids
/// and falls back to its SSE3 "Prescott" kernels: sgemm runs about 10x slower.
/// It reads OPENBLAS_CORETYPE only when the library loads, so the CLI
/// re-executes itself once with the core named (Cooperlake with AVX512_BF16,
/// SkylakeX with AVX-512; CPUs without AVX-512 are left as detected). A core
/// named by the user is kept.
public enum OpenBLASCore {
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The core to name instead of a misdetected one, or nil when the detection is fine.
    public static func better() -> String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, name.lowercased() == "prescott" else { return nil }
        if ck_has_avx512_bf16() != 0 { return "Cooperlake" }
        if ck_has_avx512() != 0 { return "SkylakeX" }
        return nil
    }

    /// Replaces the process with itself under OPENBLAS_CORETYPE when `better()` names a core.
    public static func reexecIfMisdetected() {
        guard let core = better() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let args = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        argv.append(nil)
        // The binary's own path (not /proc/self/exe, which would name the process "exe").
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        execv(path, &argv)
        // execv returned: carry on with the slow kernels rather than fail.
    }
}
