from lmv_cli.cli.app import main

main()
