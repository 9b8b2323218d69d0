"""The `sharpr` command: run the whole stack, one service, or upscale a local file."""

import argparse
from pathlib import Path

from pydantic import ValidationError

from services.core.errors import SharprError
from services.core.logs import configure_logging
from services.core.schemas import ColorVision, Enhancement, Mode, Tier
from services.core.settings import Settings, get_settings


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sharpr", description="SharprAI: low-quality video in, upscaled HLS out.")
    commands = root.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start Redis, S3, API, a worker, a packager and the URL ingest on this machine")
    up.add_argument("--demo", action="store_true", help="once up, send a generated clip through and print its playlist")

    commands.add_parser("api", help="serve the HTTP API")
    for name, text in (("worker", "upscale clips from the 'upscale' queue"),
                       ("packager", "package clips into HLS from the 'package' queue"),
                       ("ingest", "fetch and cut whole videos (URLs, uploads) from the 'ingest' queue")):
        service = commands.add_parser(name, help=text)
        service.add_argument("--burst", action="store_true", help="exit once its queue is empty")

    prepare = commands.add_parser(
        "prepare", help="convert the model weights and build the CPU kernel or, on a GPU, the TensorRT "
                   "engines ahead of time")
    prepare.add_argument("--mode", nargs="+", choices=[Mode.anime.value, Mode.live_action.value],
                         default=[Mode.anime.value, Mode.live_action.value],
                         help="the content types whose models to prepare (default: both)")
    prepare.add_argument("--scale", type=int, nargs="+", choices=(2, 3, 4), default=None,
                         help="the output scales to prepare (default: SHARPR_DEFAULT_SCALE)")
    prepare.add_argument("--backend", choices=("auto", "torch", "tensorrt"), default=None,
                         help="inference backend (default: SHARPR_BACKEND)")

    upscale = commands.add_parser("upscale", help="upscale a local video file (or to PNG frames if OUTPUT is a directory)")
    upscale.add_argument("input", type=Path,
                         help="the video file to upscale (any format PyAV reads)")
    upscale.add_argument("output", type=Path,
                         help="the MP4 to write, or an existing directory to fill with PNG frames")
    upscale.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.anime.value,
                         help="content type, which picks the model; auto picks it from the "
                              "first frames (default: anime)")
    upscale.add_argument("--scale", type=int, default=2, choices=(2, 3, 4),
                         help="output size over input size (default: 2)")
    upscale.add_argument("--tier", choices=[t.value for t in Tier], default=Tier.auto.value,
                         help="network weight: quality (the teacher), balanced or fast (distilled "
                              "from it, x2 only; docs/MODELS.md); auto is quality for a file")
    upscale.add_argument("--backend", choices=("auto", "torch", "tensorrt"), default=None,
                         help="inference backend (default: SHARPR_BACKEND)")
    upscale.add_argument("--dim-lift", action="store_true",
                         help="lift dark scenes before the model sees them, then restore "
                              "their brightness")
    upscale.add_argument("--color-vision", choices=[c.value for c in ColorVision],
                         default=ColorVision.none.value,
                         help="daltonize the colours for a viewer with this colour-vision "
                              "deficiency (default: none)")
    upscale.add_argument("--color-vision-strength", type=color_vision_strength, default=1.0,
                         metavar="0..1",
                         help="how far to daltonize, from 0 (not at all) to 1 (fully; the default)")
    return root


def color_vision_strength(text: str) -> float:
    """The strength as the stream schema bounds it, so the CLI and the API refuse alike."""
    try:
        return Enhancement.model_validate({"color_vision_strength": text}).color_vision_strength
    except ValidationError as error:
        reason = error.errors()[0]["msg"].lower()
        raise argparse.ArgumentTypeError(f"{reason}, got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        run(args, settings)
    except SharprError as error:  # a user's mistake or a refused input: a message, no trace
        raise SystemExit(f"sharpr {args.command}: {error.message} ({error.code})") from None


def run(args: argparse.Namespace, settings: Settings) -> None:
    if args.command == "up":
        from services.stack import run_stack

        run_stack(settings, demo=args.demo)
    elif args.command == "api":
        import uvicorn

        uvicorn.run("services.api.app:create_app", factory=True, host=settings.api_host,
                    port=settings.api_port, workers=settings.api_workers, log_level=settings.log_level.lower(),
                    access_log=settings.log_level.upper() == "DEBUG", proxy_headers=True,
                    forwarded_allow_ips=settings.api_forwarded_allow_ips)
    elif args.command == "worker":
        from services.worker.runner import run_worker

        run_worker(settings, burst=args.burst)
    elif args.command == "packager":
        from services.packager.runner import run_packager

        run_packager(settings, burst=args.burst)
    elif args.command == "ingest":
        from services.ingest.runner import run_ingest

        run_ingest(settings, burst=args.burst)
    elif args.command == "prepare":
        from services.worker.runner import prepare_models

        if args.backend is not None:
            settings = settings.model_copy(update={"backend": args.backend})
        prepare_models(settings, [Mode(m) for m in args.mode], args.scale or [settings.default_scale])
    elif args.command == "upscale":
        from services.worker.upscale_file import upscale_file

        enhancement = Enhancement(mode=Mode(args.mode), scale=args.scale, tier=Tier(args.tier),
                                  dim_lift=args.dim_lift,
                                  color_vision=ColorVision(args.color_vision),
                                  color_vision_strength=args.color_vision_strength)
        upscale_file(args.input, args.output, enhancement, args.backend)


if __name__ == "__main__":
    main()
