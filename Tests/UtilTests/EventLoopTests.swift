// EventLoopTests: readable descriptors call their handlers (level-
// triggered, as long as data waits), unwatched ones never do, regular
// files count as always readable, a handler that unwatches another
// descriptor of the same round stops its call, and timers fire in order.
import XCTest
import Glibc
@testable import Util

final class EventLoopTests: XCTestCase {
    private func makePipe() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        return (fds[0], fds[1])
    }

    func testReadableDescriptorsAndUnwatch() {
        let loop = EventLoop()
        let a = makePipe(), b = makePipe()
        defer { for fd in [a.read, a.write, b.read, b.write] { close(fd) } }
        var calls: [String] = []
        loop.watchReadable(a.read) { calls.append("a") }
        loop.watchReadable(b.read) { calls.append("b") }
        loop.runOnce(maxWait: 0)
        XCTAssertEqual(calls, [])
        _ = write(a.write, "x", 1)
        loop.runOnce(maxWait: 1)
        XCTAssertEqual(calls, ["a"])
        // Level-triggered: unread data is reported again.
        loop.runOnce(maxWait: 1)
        XCTAssertEqual(calls, ["a", "a"])
        loop.unwatch(a.read)
        _ = write(b.write, "y", 1)
        loop.runOnce(maxWait: 1)
        XCTAssertEqual(calls, ["a", "a", "b"])
        // Watching again after unwatch works; a second watch replaces the handler.
        loop.watchReadable(a.read) { calls.append("a2") }
        loop.watchReadable(a.read) { calls.append("a3") }
        loop.unwatch(b.read)
        loop.runOnce(maxWait: 1)
        XCTAssertEqual(calls, ["a", "a", "b", "a3"])
    }

    func testHandlerUnwatchingAnotherDescriptorStopsItsCall() {
        let loop = EventLoop()
        let a = makePipe(), b = makePipe()
        defer { for fd in [a.read, a.write, b.read, b.write] { close(fd) } }
        var calls = 0
        loop.watchReadable(a.read) { calls += 1; loop.unwatch(b.read) }
        loop.watchReadable(b.read) { calls += 1; loop.unwatch(a.read) }
        _ = write(a.write, "x", 1)
        _ = write(b.write, "y", 1)
        loop.runOnce(maxWait: 1)
        XCTAssertEqual(calls, 1)
    }

    func testRegularFilesAreAlwaysReadable() {
        let loop = EventLoop()
        let fd = open("/etc/hostname", O_RDONLY)
        guard fd >= 0 else { return XCTFail("no /etc/hostname") }
        defer { close(fd) }
        var calls = 0
        loop.watchReadable(fd) { calls += 1 }
        loop.runOnce(maxWait: 1)
        XCTAssertEqual(calls, 1)
        loop.unwatch(fd)
        loop.runOnce(maxWait: 0)
        XCTAssertEqual(calls, 1)
    }

    func testTimersFireInDeadlineOrderAndCancel() {
        let loop = EventLoop()
        var fired: [Int] = []
        loop.after(0.02) { fired.append(2) }
        loop.after(0.01) { fired.append(1) }
        let cancelled = loop.after(0.01) { fired.append(99) }
        loop.cancelTimer(cancelled)
        let deadline = EventLoop.now() + 2
        while fired.count < 2 && EventLoop.now() < deadline { loop.runOnce(maxWait: 0.05) }
        XCTAssertEqual(fired, [1, 2])
    }
}
