// Tests of trigger connections kept open (Global's TriggerChannel on the
// client side, HeldTriggers on the server side) beside one-shot triggers.
import XCTest
import Glibc
import Util
import Global
@testable import ServerSkeleton

final class HeldTriggersTests: XCTestCase {
    var directory = ""
    var listener: Int32 = -1
    var path: String { directory + "/qmgr" }

    override func setUpWithError() throws {
        var template = Array("/tmp/held-triggers-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError() }
        directory = String(cString: made)
        listener = try Socket.listenUnix(directory + "/qmgr")
        Socket.setNonBlocking(listener)
    }

    override func tearDown() {
        if listener >= 0 { close(listener) }
        unlink(path)
        rmdir(directory)
    }

    /// Waits until `fd` is readable (at most two seconds).
    func readable(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 2000) == 1
    }

    func testKeptConnectionCarriesEveryWakeupUntilClosed() throws {
        let held = HeldTriggers()
        var channel: TriggerChannel? = TriggerChannel(path: path)
        XCTAssertTrue(channel!.wakeup())
        XCTAssertTrue(readable(listener))
        XCTAssertEqual(held.accept(listener), Array("W".utf8))
        XCTAssertEqual(held.count, 1, "the client keeps the connection: so does the server")
        XCTAssertNil(held.accept(listener), "no second connection: the channel reuses its own")

        XCTAssertTrue(channel!.send(UInt8(ascii: "D")))
        XCTAssertTrue(channel!.wakeup())
        let poll = try XCTUnwrap(held.pollDescriptor)
        XCTAssertTrue(readable(poll))
        XCTAssertEqual(held.readReady(), Array("DW".utf8))
        XCTAssertNil(held.accept(listener))

        channel = nil  // the client goes away
        XCTAssertTrue(readable(poll))
        XCTAssertEqual(held.readReady(), [])
        XCTAssertEqual(held.count, 0)
        XCTAssertNil(held.pollDescriptor)
    }

    func testOneShotTriggerIsReadAndClosed() throws {
        let held = HeldTriggers()
        XCTAssertTrue(Trigger.send(Array("I".utf8), to: path))
        XCTAssertTrue(readable(listener))
        XCTAssertEqual(held.accept(listener), Array("I".utf8))
        // The client closed right after writing: nothing is held (or what
        // was held goes at its end of file).
        if let poll = held.pollDescriptor {
            XCTAssertTrue(readable(poll))
            XCTAssertEqual(held.readReady(), [])
        }
        XCTAssertEqual(held.count, 0)
    }

    func testChannelConnectsAgainWhenTheServerWentAway() throws {
        let channel = TriggerChannel(path: path)
        var held: HeldTriggers? = HeldTriggers()
        XCTAssertTrue(channel.wakeup())
        XCTAssertTrue(readable(listener))
        XCTAssertEqual(held!.accept(listener), Array("W".utf8))
        // The server restarts: its connections close, a new listener takes
        // the same name.
        held = nil
        close(listener)
        unlink(path)
        listener = try Socket.listenUnix(path)
        Socket.setNonBlocking(listener)
        let server = HeldTriggers()
        XCTAssertTrue(channel.wakeup())
        XCTAssertTrue(readable(listener))
        XCTAssertEqual(server.accept(listener), Array("W".utf8))
        XCTAssertEqual(server.count, 1)
    }

    func testLimitTurnsFurtherConnectionsIntoOneShots() throws {
        let held = HeldTriggers(limit: 1)
        let first = TriggerChannel(path: path), second = TriggerChannel(path: path)
        XCTAssertTrue(first.wakeup())
        XCTAssertTrue(second.wakeup())
        XCTAssertTrue(readable(listener))
        XCTAssertEqual(held.accept(listener), Array("W".utf8))
        XCTAssertTrue(readable(listener))
        XCTAssertEqual(held.accept(listener), Array("W".utf8))
        XCTAssertEqual(held.count, 1)
        // The one closed by the server connects again on its next wakeup.
        XCTAssertTrue(second.wakeup())
        XCTAssertTrue(first.wakeup())
        XCTAssertTrue(readable(listener))
        XCTAssertEqual(held.accept(listener), Array("W".utf8))
        let poll = try XCTUnwrap(held.pollDescriptor)
        XCTAssertTrue(readable(poll))
        XCTAssertEqual(held.readReady(), Array("W".utf8))
    }
}
