// BenchError: a benchmark that could not measure what it set out to, with the reason.

enum BenchError: Error, CustomStringConvertible {
    case failed(String)
    var description: String {
        switch self {
        case .failed(let text): return text
        }
    }
}
