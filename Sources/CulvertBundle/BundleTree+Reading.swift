// BundleTree+Reading: the second pass — every file scanned in the first pass opened (O_NOFOLLOW,
// relative to its directory), checked to be the same inode with the same size and permissions,
// and streamed to a visitor. Anything that changed between the passes is refused, so what a
// visitor sees is exactly what the scan approved.

import CulvertSystem

/// Receives a bundle's content in a fixed order: a directory, its files, then its subdirectories.
protocol BundleTreeVisitor {
    mutating func enterDirectory(_ directory: BundleTree.Directory) throws(BundleError)
    mutating func beginFile(_ file: BundleTree.File) throws(BundleError)
    /// Some bytes of the current file; called zero or more times, in order.
    mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(BundleError)
    mutating func endFile(_ file: BundleTree.File) throws(BundleError)
    mutating func leaveDirectory(_ directory: BundleTree.Directory) throws(BundleError)
}

extension BundleTree {
    /// Bytes read per call.
    static let readChunkSize = 1 << 16

    /// Streams every file to `visitor`. Refused with `fileChangedDuringRead`: a directory whose
    /// names or inode differ from the scan's, a file that is no longer the scanned regular file
    /// with one link, the same size and permissions, or whose length while reading differs.
    func read(into visitor: inout some BundleTreeVisitor) throws(BundleError) {
        let handle: DirectoryHandle
        do {
            handle = try DirectoryHandle.open(path: rootPath)
        } catch {
            throw .fileChangedDuringRead(path: ".")
        }
        defer { handle.close() }
        let status = try system { () throws(SystemError) in try handle.status() }
        guard status.isSameFile(as: root.status) else { throw .fileChangedDuringRead(path: ".") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunkSize, alignment: 16)
        defer { buffer.deallocate() }
        try read(root, handle: handle, buffer: buffer, into: &visitor)
    }

    private func read(
        _ directory: Directory, handle: DirectoryHandle, buffer: UnsafeMutableRawBufferPointer, into visitor: inout some BundleTreeVisitor
    ) throws(BundleError) {
        let names = try system { () throws(SystemError) in try handle.entryNames() }
        let scanned = (directory.files.map(\.name) + directory.directories.map(\.name)).sorted()
        guard names == scanned else { throw .fileChangedDuringRead(path: directory.displayPath) }
        try visitor.enterDirectory(directory)
        for file in directory.files {
            try read(file, in: handle, buffer: buffer, into: &visitor)
        }
        for child in directory.directories {
            let childHandle = try BundleTree.openDirectory(child.name, in: handle, path: child.path, expected: child.status)
            defer { childHandle.close() }
            try read(child, handle: childHandle, buffer: buffer, into: &visitor)
        }
        try visitor.leaveDirectory(directory)
    }

    private func read(
        _ file: File, in handle: DirectoryHandle, buffer: UnsafeMutableRawBufferPointer, into visitor: inout some BundleTreeVisitor
    ) throws(BundleError) {
        let descriptor: Descriptor
        do {
            descriptor = try handle.openFileForReading(named: file.name)
        } catch {
            // Gone or swapped for a symlink since the scan.
            if error.errno == Syscall.ENOENT || error.errno == Syscall.ELOOP { throw .fileChangedDuringRead(path: file.path) }
            throw .io(error)
        }
        defer { descriptor.close() }
        let status = try system { () throws(SystemError) in try descriptor.status() }
        guard status.kind == .regular, status.isSameFile(as: file.status), status.linkCount == 1, status.size == file.status.size,
            status.permissions == file.status.permissions
        else { throw .fileChangedDuringRead(path: file.path) }
        try visitor.beginFile(file)
        var total: Int64 = 0
        while true {
            let count = try system { () throws(SystemError) in try descriptor.read(into: buffer) }
            if count == 0 { break }
            total += Int64(count)
            // Growing while being read: stop at once rather than stream an unbounded file.
            guard total <= file.status.size else { throw .fileChangedDuringRead(path: file.path) }
            try visitor.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        guard total == file.status.size else { throw .fileChangedDuringRead(path: file.path) }
        try visitor.endFile(file)
    }
}
