// BundleInspection: one scan and one read of a bundle — the file hashes, the manifest and
// signature bytes, and the checks that need the tree — shared by the verifier and the signer.

import Crypto
import CulvertSystem
import CulvertVarlink

struct BundleInspection {
    /// The identifier the directory's name claims.
    let directoryIdentifier: String
    let tree: BundleTree
    /// SHA-256 of every regular file, `signature.json` included, by relative path.
    private(set) var digests: [String: String] = [:]
    private(set) var manifestBytes: [UInt8] = []
    private(set) var signatureBytes: [UInt8]?

    /// Scans `path` (every structural refusal of `BundleTree.scan`) and checks the root's two
    /// special files: `manifest.json` a regular file (`manifestMissing`) of at most
    /// `BundleManifest.maximumSize` bytes; `signature.json`, if present, a regular file
    /// (`signatureMalformed`) of at most `BundleSignature.maximumSize` bytes. Reads nothing.
    init(scanning path: String) throws(BundleError) {
        directoryIdentifier = try BundlePath.identifier(ofBundleDirectory: path)
        tree = try BundleTree.scan(path)
        guard let manifest = tree.filesByPath[BundleFormat.manifestFileName] else { throw .manifestMissing }
        guard manifest.status.size <= BundleManifest.maximumSize else {
            throw .manifestTooLarge(size: manifest.status.size, limit: BundleManifest.maximumSize)
        }
        if tree.directoriesByPath[BundleFormat.signatureFileName] != nil {
            throw .signatureMalformed(reason: "\(BundleFormat.signatureFileName) is not a regular file")
        }
        if let signature = tree.filesByPath[BundleFormat.signatureFileName], signature.status.size > BundleSignature.maximumSize {
            throw .signatureTooLarge(size: signature.status.size, limit: BundleSignature.maximumSize)
        }
    }

    var hasSignatureFile: Bool { tree.filesByPath[BundleFormat.signatureFileName] != nil }

    /// Reads every file once: hashes all of them and keeps the manifest and signature bytes.
    mutating func read() throws(BundleError) {
        var visitor = HashingVisitor()
        try tree.read(into: &visitor)
        digests = visitor.digests
        manifestBytes = visitor.kept[BundleFormat.manifestFileName] ?? []
        signatureBytes = visitor.kept[BundleFormat.signatureFileName]
    }

    /// Every file's hash but the signature file's: what a signature lists.
    var signableDigests: [String: String] { digests.filter { $0.key != BundleFormat.signatureFileName } }

    /// The manifest as strict JSON (`manifestMalformed`), before any meaning is checked.
    func manifestJSON() throws(BundleError) -> JSONValue {
        do {
            return try JSONParser.parse(manifestBytes, maximumDepth: BundleManifest.maximumJSONDepth)
        } catch {
            throw .manifestMalformed(reason: error.description)
        }
    }

    /// Compares the bundle with a signature's list. Refused, in this order (paths sorted): a
    /// listed file absent or not a regular file (`fileMissing`); a present file not listed
    /// (`fileNotSigned`); a directory that holds no listed file (`directoryNotSigned`); the
    /// manifest's hash (`manifestHashMismatch`); any other file's hash (`fileHashMismatch`).
    func check(against files: [String: String]) throws(BundleError) {
        let present = signableDigests
        for path in files.keys.sorted() where present[path] == nil { throw .fileMissing(path: path) }
        for path in present.keys.sorted() where files[path] == nil { throw .fileNotSigned(path: path) }
        let signedDirectories = Set(files.keys.flatMap { BundlePath.ancestors(of: $0) })
        for path in tree.directoriesByPath.keys.sorted() where !signedDirectories.contains(path) {
            throw .directoryNotSigned(path: path)
        }
        if present[BundleFormat.manifestFileName] != files[BundleFormat.manifestFileName] { throw .manifestHashMismatch }
        for path in files.keys.sorted() where present[path] != files[path] { throw .fileHashMismatch(path: path) }
    }

    /// The checks of a manifest against the tree: the directory's name names the manifest's
    /// identifier (`identifierMismatch`); the executable exists (`executableMissing`), is a
    /// regular file (`executableNotRegularFile`) with an execute bit (`executableNotExecutable`).
    func check(_ manifest: BundleManifest) throws(BundleError) {
        guard manifest.identifier == directoryIdentifier else {
            throw .identifierMismatch(directory: directoryIdentifier, manifest: manifest.identifier)
        }
        if tree.directoriesByPath[manifest.executable] != nil { throw .executableNotRegularFile(path: manifest.executable) }
        guard let executable = tree.filesByPath[manifest.executable] else { throw .executableMissing(path: manifest.executable) }
        guard executable.status.isExecutable else { throw .executableNotExecutable(path: manifest.executable) }
    }

    /// The files as a verified bundle lists them.
    var bundleFiles: [BundleFile] {
        signableDigests.keys.sorted().map { path in
            // filesByPath[path]!: digests are taken from exactly the tree's files.
            let status = tree.filesByPath[path]!.status
            // digests[path]!: path comes from the digests' own keys.
            return BundleFile(path: path, sha256: digests[path]!, size: status.size, isExecutable: status.isExecutable)
        }
    }
}

/// Hashes every file; keeps the bytes of the root's manifest and signature files.
private struct HashingVisitor: BundleTreeVisitor {
    var digests: [String: String] = [:]
    var kept: [String: [UInt8]] = [:]
    private var hasher = SHA256()
    private var keeping: [UInt8]?

    mutating func enterDirectory(_ directory: BundleTree.Directory) {}
    mutating func leaveDirectory(_ directory: BundleTree.Directory) {}

    mutating func beginFile(_ file: BundleTree.File) {
        hasher = SHA256()
        let special = file.path == BundleFormat.manifestFileName || file.path == BundleFormat.signatureFileName
        keeping = special ? [] : nil
    }

    mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        keeping?.append(contentsOf: bytes)
    }

    mutating func endFile(_ file: BundleTree.File) {
        digests[file.path] = Hex.encode(hasher.finalize())
        if let keeping { kept[file.path] = keeping }
        keeping = nil
    }
}
