from mlwright.cli import main

main()
