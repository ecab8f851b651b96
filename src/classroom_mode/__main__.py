from classroom_mode.cli import main

main()
