// culvert-fuzz: one binary, two builds.
//  - Normal build: `culvert-fuzz replay DIR` runs every file under DIR/<target>/ through that
//    target (make test does this with Fuzz/corpus).
//  - libFuzzer build (`scripts/fuzz`, -DCULVERT_LIBFUZZER -sanitize=fuzzer -parse-as-library):
//    libFuzzer owns main; CULVERT_FUZZ_TARGET picks the target.

#if CULVERT_LIBFUZZER
    import Foundation

    private let target: @Sendable ([UInt8]) -> Void = {
        let name = ProcessInfo.processInfo.environment["CULVERT_FUZZ_TARGET"] ?? "varlink-message"
        guard let target = FuzzTargets.all[name] else { fatalError("unknown CULVERT_FUZZ_TARGET \(name)") }
        return target
    }()

    import CCulvert

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        guard let data else { return 0 }
        target(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    // SwiftPM links executables with `main` aliased to `<module>_main`; with -parse-as-library
    // there is no Swift main, so provide that symbol and hand control to libFuzzer's driver.
    @_cdecl("culvert_fuzz_main")
    public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var count = argc
        var vector = argv
        return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzOne(data, size) }
    }
#else
    import Foundation

    @main
    struct FuzzReplay {
        static func main() {
            let arguments = CommandLine.arguments
            guard arguments.count == 3, arguments[1] == "replay" else {
                print("usage: culvert-fuzz replay CORPUS-DIR   (runs CORPUS-DIR/<target>/* through each target)")
                exit(64)
            }
            let root = arguments[2]
            var total = 0
            for (name, target) in FuzzTargets.all.sorted(by: { $0.key < $1.key }) {
                let directory = root + "/" + name
                guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory), !files.isEmpty else {  // reported below
                    print("culvert-fuzz: no corpus for \(name) in \(directory)")
                    exit(1)
                }
                for file in files.sorted() {
                    guard let data = FileManager.default.contents(atPath: directory + "/" + file) else { continue }  // vanished: skip
                    target(Array(data))
                }
                print("culvert-fuzz: \(name): replayed \(files.count) inputs")
                total += files.count
            }
            print("fuzz corpus: \(total) passed, 0 failed")
        }
    }
#endif
