from semcse.cli import main

main()
