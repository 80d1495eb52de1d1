from dat_pipeline.cli import main

main()
