from incentives_cli.cli import main

main()
