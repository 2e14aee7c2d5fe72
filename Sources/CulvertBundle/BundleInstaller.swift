// BundleInstaller: the verified copy (contract 5). culvertd never runs a bundle where a package
// manager put it: it copies it file by file into its state directory, verifies the copy, and
// renames it into place. This file makes the copy; the caller verifies and renames.

import CulvertSystem

public enum BundleInstaller {
    /// Permissions of a copied regular file that had no execute bit.
    public static let filePermissions: UInt32 = 0o444
    /// Permissions of a copied regular file that had any execute bit.
    public static let executablePermissions: UInt32 = 0o555
    /// A copied file's writeback is started every this many bytes (`sync_file_range`), the chunk
    /// before waited for, so at most two chunks are dirty at a time.
    public static let writebackChunkBytes = 4 << 20
    /// Permissions of every copied directory, the copy's root included.
    public static let directoryPermissions: UInt32 = 0o555

    /// Copies the bundle at `source` to `stagingDirectory/<source's name>` and returns that path.
    ///
    /// The source is walked exactly as verification walks it (`BundleTree.scan`): every
    /// structural refusal — symlinks, hard links, device nodes, FIFOs, sockets, setuid, setgid
    /// and sticky bits, names, sizes, counts, depth — applies to the source, before anything is
    /// created. Each file is then opened with `O_NOFOLLOW` relative to its directory, checked to
    /// be the inode that was scanned, and copied into a new file (`O_CREAT | O_EXCL`): the copy
    /// shares no inode with the source, so changing or deleting the source afterwards changes
    /// nothing in it. Copies are owned by root when the caller is root (culvertd always is), with
    /// modes `filePermissions`, `executablePermissions` and `directoryPermissions`; every file and
    /// directory is fsynced, then `stagingDirectory` itself.
    ///
    /// Content is not checked here (no signature, no manifest): the caller verifies the returned
    /// copy with `BundleVerifier.verify` and only then renames it into place, atomically, on the
    /// same file system. `stagingDirectory` must exist and must not already hold an entry of that
    /// name (`stagingDestinationExists`). On failure, a partial copy may remain under
    /// `stagingDirectory`; staging directories are the caller's to remove (a crash can leave one
    /// behind anyway). A failure to write the copy is `copyFailed` with the destination's absolute
    /// path; failures reading the source keep their own cases (`io` for a system error).
    public static func stageCopy(from source: String, into stagingDirectory: String) throws(BundleError) -> String {
        let name = BundlePath.lastComponent(of: source)
        _ = try BundlePath.identifier(ofBundleDirectory: source)
        let tree = try BundleTree.scan(source)

        let staging = try writing(stagingDirectory) { () throws(SystemError) in try DirectoryHandle.open(path: stagingDirectory) }
        defer { staging.close() }
        let destination = stagingDirectory + "/" + name
        do {
            try staging.createDirectory(named: name, permissions: 0o700)
        } catch {
            if error.errno == Syscall.EEXIST { throw .stagingDestinationExists(path: destination) }
            throw .copyFailed(SystemError(call: error.call, errno: error.errno, path: destination))
        }
        let root = try writing(destination) { () throws(SystemError) in try staging.openDirectory(named: name) }
        var visitor = CopyingVisitor(root: root, rootPath: destination, ownedByRoot: Identity.effectiveUserID == 0)
        do {
            try tree.read(into: &visitor)
        } catch {
            visitor.abandon()
            throw error
        }
        try writing(stagingDirectory) { () throws(SystemError) in try staging.synchronize() }
        return destination
    }
}

/// Runs a step that writes the copy; its failure is `copyFailed` naming `path`.
private func writing<T>(_ path: String, _ body: () throws(SystemError) -> T) throws(BundleError) -> T {
    do {
        return try body()
    } catch {
        throw .copyFailed(SystemError(call: error.call, errno: error.errno, path: path))
    }
}

/// Recreates each directory and file under the destination root as the walk reaches it.
private struct CopyingVisitor: BundleTreeVisitor {
    /// Open destination directories, root first; the last is the one being filled.
    private var directories: [DirectoryHandle]
    private var file: Descriptor?
    private var fileIsExecutable = false
    /// Bytes of the current file written, and how far its writeback has been started.
    private var written: Int64 = 0
    private var writebackStarted: Int64 = 0
    /// The absolute path of the copy's root and of the file being written, for errors.
    private let rootPath: String
    private var filePath = ""
    private let ownedByRoot: Bool

    init(root: DirectoryHandle, rootPath: String, ownedByRoot: Bool) {
        directories = [root]
        self.rootPath = rootPath
        self.ownedByRoot = ownedByRoot
    }

    private func destination(_ relative: String) -> String { relative.isEmpty ? rootPath : rootPath + "/" + relative }

    mutating func enterDirectory(_ directory: BundleTree.Directory) throws(BundleError) {
        guard !directory.path.isEmpty else { return }  // the root was created by stageCopy
        // last!: the root stays on the stack until the walk ends.
        let parent = directories.last!
        let path = destination(directory.path)
        try writing(path) { () throws(SystemError) in try parent.createDirectory(named: directory.name, permissions: 0o700) }
        directories.append(try writing(path) { () throws(SystemError) in try parent.openDirectory(named: directory.name) })
    }

    mutating func beginFile(_ source: BundleTree.File) throws(BundleError) {
        let parent = directories.last!  // the root stays on the stack until the walk ends
        filePath = destination(source.path)
        file = try writing(filePath) { () throws(SystemError) in try parent.createFile(named: source.name, permissions: 0o600) }
        fileIsExecutable = source.status.isExecutable
        written = 0
        writebackStarted = 0
    }

    mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(BundleError) {
        let file = file!  // beginFile always precedes consume
        try writing(filePath) { () throws(SystemError) in try file.writeAll(bytes) }
        written += Int64(bytes.count)
        // Writeback in chunks as the copy goes, waiting for the one before: a large file never
        // leaves tens of MiB dirty for one long fsync that floods the disk at the end.
        let chunk = Int64(BundleInstaller.writebackChunkBytes)
        guard written - writebackStarted >= chunk else { return }
        let start = writebackStarted
        try writing(filePath) { () throws(SystemError) in
            if start >= chunk { try file.writeBack(offset: start - chunk, length: chunk, wait: true) }
            try file.writeBack(offset: start, length: chunk, wait: false)
        }
        writebackStarted += chunk
    }

    mutating func endFile(_ source: BundleTree.File) throws(BundleError) {
        let file = file!  // beginFile always precedes endFile
        let permissions = fileIsExecutable ? BundleInstaller.executablePermissions : BundleInstaller.filePermissions
        try seal(file, permissions: permissions, path: filePath)
        file.close()
        self.file = nil
    }

    mutating func leaveDirectory(_ directory: BundleTree.Directory) throws(BundleError) {
        let handle = directories.last!  // every leave matches an enter, and the root is entered first
        try seal(handle.descriptor, permissions: BundleInstaller.directoryPermissions, path: destination(directory.path))
        handle.close()
        directories.removeLast()
    }

    /// Closes whatever is still open after a failure.
    mutating func abandon() {
        file?.close()
        file = nil
        for handle in directories { handle.close() }
        directories = []
    }

    /// Owner, final permissions (exact: no umask), then fsync — in that order, so what reaches
    /// the disk is the finished file.
    private func seal(_ descriptor: Descriptor, permissions: UInt32, path: String) throws(BundleError) {
        try writing(path) { () throws(SystemError) in
            if ownedByRoot { try descriptor.setOwner(userID: 0, groupID: 0) }
            try descriptor.setPermissions(permissions)
            try descriptor.synchronize()
        }
    }
}
