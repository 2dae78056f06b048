package amqp

import (
	"log/slog"
	"os"
)

func testLog() *slog.Logger {
	if os.Getenv("DMZ_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
